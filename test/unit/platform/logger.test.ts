import { Writable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { createLogger, PinoSdkLogger } from '../../../worker/logger.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { lines, destination };
}

describe('createLogger', () => {
  test('JSON lines with bindings and a level name', () => {
    const { lines, destination } = capture();
    createLogger({ component: 'worker' }, { destination }).info({ vm: 'pg-1' }, 'hello');
    expect(lines[0]).toMatchObject({ level: 'info', component: 'worker', vm: 'pg-1', msg: 'hello' });
  });

  test('secrets are redacted at the top level and nested', () => {
    const { lines, destination } = capture();
    createLogger({}, { destination }).info(
      {
        password: 'p',
        token: 't',
        site: { apiKey: 'k', uri: 'qemu:///system' },
        a: { b: { privateKey: 'x' } },
      },
      'with secrets',
    );
    const text = JSON.stringify(lines[0]);
    for (const secret of ['"p"', '"t"', '"k"', '"x"']) expect(text).not.toContain(secret);
    expect(lines[0]).toMatchObject({
      password: '[redacted]',
      site: { apiKey: '[redacted]', uri: 'qemu:///system' },
    });
  });
});

describe('PinoSdkLogger', () => {
  test("the SDK's log calls become pino lines at the same level", () => {
    const { lines, destination } = capture();
    const sdk = new PinoSdkLogger(createLogger({}, { destination, level: 'trace' }));
    sdk.warn('Worker state changed', { state: 'STOPPING', token: 'secret' });
    sdk.log('DEBUG', 'detail');
    expect(lines[0]).toMatchObject({
      level: 'warn',
      sdk: true,
      state: 'STOPPING',
      token: '[redacted]',
      msg: 'Worker state changed',
    });
    expect(lines[1]).toMatchObject({ level: 'debug', msg: 'detail' });
  });
});
