import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { base64ToBytes, bytesToBase64, utf8Encode } from '../../../approvals/encoding.ts';
import { initOperatorKey, loadOperatorKey, OperatorKeyError, signDecision } from '../../../approvals/keys.ts';
import { canonicalJson, type DecisionPayload, signingBytes } from '../../../approvals/payload.ts';
import { checkDecision, decodePublicKey, type GateContext } from '../../../approvals/verify.ts';

describe('encodings (sandbox-safe)', () => {
  it('base64 round-trips and matches Buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        const text = bytesToBase64(bytes);
        expect(text).toBe(Buffer.from(bytes).toString('base64'));
        expect(base64ToBytes(text)).toEqual(bytes);
      }),
    );
  });

  it('refuses non-canonical or malformed base64', () => {
    for (const bad of ['abc', 'ab=c', '!!!!', 'QR==', 'QUI=A===']) expect(base64ToBytes(bad)).toBeUndefined();
  });

  it('utf8 matches TextEncoder', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        expect([...utf8Encode(s)]).toEqual([...new TextEncoder().encode(s)]);
      }),
    );
  });
});

describe('canonical signing bytes', () => {
  it('sorts keys, drops undefined, and ignores extra fields', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: undefined }] })).toBe('{"a":[{"d":2}],"b":1}');
    const p: DecisionPayload = { workflowId: 'w', stepId: 's', decision: 'approve', reason: 'r', time: 't' };
    const withExtra = { ...p, extra: 'smuggled' } as DecisionPayload;
    expect(new TextDecoder().decode(signingBytes(withExtra))).toBe(
      '{"decision":"approve","reason":"r","stepId":"s","time":"t","workflowId":"w"}',
    );
  });
});

const secret = ed25519.utils.randomSecretKey();
const key = `ed25519:${bytesToBase64(ed25519.getPublicKey(secret))}`;
const otherSecret = ed25519.utils.randomSecretKey();
const now = Date.parse('2026-01-01T12:00:00Z');
const gate: GateContext = {
  workflowId: 'runbook/r/drill/1',
  stepId: 'web/before/0',
  role: 'ic',
  openedAt: now - 60_000,
  now,
  operators: { alice: { key }, bob: { key: `ed25519:${bytesToBase64(ed25519.getPublicKey(otherSecret))}` } },
  roles: { ic: ['alice'], viewer: ['bob'] },
  seenSignatures: new Set(),
};
const payload = (over: Partial<DecisionPayload> = {}): DecisionPayload => ({
  workflowId: gate.workflowId,
  stepId: gate.stepId,
  decision: 'approve',
  reason: 'looks good',
  time: new Date(now).toISOString(),
  ...over,
});
const alice = { name: 'alice', secretKey: secret };

describe('checkDecision', () => {
  it('accepts the right operator with a fresh signature and a reason', () => {
    expect(checkDecision(signDecision(alice, payload()), gate)).toBeUndefined();
    expect(checkDecision(signDecision(alice, payload({ decision: 'reject' })), gate)).toBeUndefined();
  });

  it.each([
    ['WRONG_WORKFLOW', signDecision(alice, payload({ workflowId: 'runbook/r/drill/2' }))],
    ['NO_SUCH_GATE', signDecision(alice, payload({ stepId: 'other/before/0' }))],
    ['NO_REASON', signDecision(alice, payload({ reason: ' ' }))],
    ['UNKNOWN_OPERATOR', { ...signDecision(alice, payload()), operator: 'mallory' }],
    ['WRONG_ROLE', signDecision({ name: 'bob', secretKey: otherSecret }, payload())],
    ['BAD_SIGNATURE', { ...signDecision({ name: 'alice', secretKey: otherSecret }, payload()) }],
    ['BAD_SIGNATURE', { ...signDecision(alice, payload()), signature: 'not base64!' }],
    ['STALE', signDecision(alice, payload({ time: new Date(now - 3_600_000).toISOString() }))],
    ['STALE', signDecision(alice, payload({ time: new Date(now + 3_600_000).toISOString() }))],
    ['STALE', signDecision(alice, payload({ time: 'yesterday' }))],
  ])('refuses %s', (code, decision) => {
    expect(checkDecision(decision, gate)?.code).toBe(code);
  });

  it('refuses a payload changed after signing', () => {
    const d = signDecision(alice, payload());
    d.payload = { ...d.payload, decision: 'reject' };
    expect(checkDecision(d, gate)?.code).toBe('BAD_SIGNATURE');
  });

  it('refuses a signature already used', () => {
    const d = signDecision(alice, payload());
    expect(checkDecision(d, { ...gate, seenSignatures: new Set([d.signature]) })?.code).toBe('REPLAYED');
  });

  it('refuses an operator whose runbook key is invalid', () => {
    const d = signDecision(alice, payload());
    expect(checkDecision(d, { ...gate, operators: { alice: { key: 'ed25519:short' } } })?.code).toBe(
      'BAD_KEY',
    );
    expect(decodePublicKey('rsa:AAAA')).toBeUndefined();
  });
});

describe('operator key files', () => {
  it('init writes a 0600 key that signs verifiable decisions, and refuses to overwrite', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-keys-'));
    const { path: file, publicKey } = await initOperatorKey('carol', dir);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(publicKey).toMatch(/^ed25519:[A-Za-z0-9+/]{43}=$/);
    const k = await loadOperatorKey('carol', dir);
    expect(k.publicKey).toBe(publicKey);
    const d = signDecision(k, payload());
    expect(
      checkDecision(d, { ...gate, operators: { carol: { key: publicKey } }, roles: { ic: ['carol'] } }),
    ).toBeUndefined();
    await expect(initOperatorKey('carol', dir)).rejects.toMatchObject({ code: 'KEY_EXISTS' });
    await expect(loadOperatorKey('nobody', dir)).rejects.toBeInstanceOf(OperatorKeyError);
    await expect(initOperatorKey('../evil', dir)).rejects.toMatchObject({ code: 'BAD_NAME' });
  });
});
