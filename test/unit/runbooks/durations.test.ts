import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../../runbooks/durations.ts';

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['250ms', 250],
    ['1h30m', 5_400_000],
    ['1m30s500ms', 90_500],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toEqual({ ok: true, ms });
  });

  it.each([
    ['0s', 'zero'],
    ['0m0s', 'zero'],
    ['-5m', 'negative'],
    ['5', 'syntax'],
    ['5 m', 'syntax'],
    ['5x', 'syntax'],
    ['m', 'syntax'],
    ['', 'syntax'],
    ['1.5h', 'syntax'],
    ['99999999999999999999d', 'too-large'],
  ])('%s is refused as %s', (text, reason) => {
    const r = parseDuration(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toBe(reason);
  });

  it('refuses numbers and other types without throwing', () => {
    expect(parseDuration(30)).toMatchObject({
      ok: false,
      reason: 'syntax',
      message: 'duration 30 has no unit',
    });
    expect(parseDuration(null).ok).toBe(false);
    expect(parseDuration({}).ok).toBe(false);
  });

  it('formats milliseconds back the way runbooks write them', () => {
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(90_500)).toBe('1m30s500ms');
    expect(formatDuration(604_800_000)).toBe('7d');
  });
});
