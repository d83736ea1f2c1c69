/**
 * A TCP relay standing in for the inter-site link in tests: counts the bytes it carries to the
 * client and can be "cut" the way a downed veth is: data stops flowing and nothing closes,
 * so only an application-level idle timeout notices.
 */

import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type Socket } from 'node:net';

export class LinkProxy {
  bytesToClient = 0;
  private cut = false;
  private cutAt: { bytes: number; done: () => void } | undefined;
  private readonly pairs = new Set<[Socket, Socket]>();

  private constructor(private readonly server: Server) {}

  static async start(targetPort: number): Promise<LinkProxy> {
    const server = createServer();
    const proxy = new LinkProxy(server);
    server.on('connection', (client) => proxy.accept(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  private readonly sockets = new Set<Socket>();

  private accept(client: Socket, targetPort: number): void {
    client.on('error', () => undefined);
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    if (this.cut) return; // a cut link: the connection goes nowhere and never closes
    const upstream = connect(targetPort, '127.0.0.1');
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    client.on('close', () => this.pairs.delete(pair));
    client.on('data', (d) => {
      if (!this.cut) upstream.write(d);
    });
    upstream.on('data', (d) => {
      this.bytesToClient += d.length;
      if (this.cutAt && this.bytesToClient >= this.cutAt.bytes) {
        const { done } = this.cutAt;
        this.cutAt = undefined;
        // Cut in the same turn: no later chunk can cross, however fast the client reads.
        client.write(d);
        this.cutLink();
        done();
        return;
      }
      // Backpressure keeps the relay's own buffer small, so a cut stops the flow at once.
      if (!client.write(d)) {
        upstream.pause();
        client.once('drain', () => {
          if (!this.cut) upstream.resume();
        });
      }
    });
  }

  /** Stops all traffic; open connections hang, new ones are never answered. */
  cutLink(): void {
    this.cut = true;
    for (const [, upstream] of this.pairs) upstream.pause();
  }

  /** Cuts the link as soon as `bytes` have crossed to the client; resolves then. */
  cutAfter(bytes: number): Promise<void> {
    return new Promise((done) => {
      this.cutAt = { bytes, done };
    });
  }

  heal(): void {
    this.cut = false;
  }

  async close(): Promise<void> {
    for (const [c, u] of this.pairs) {
      c.destroy();
      u.destroy();
    }
    // Connections accepted while cut were never paired; they would keep close() waiting.
    for (const c of this.sockets) c.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
