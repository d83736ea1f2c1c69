import { describe, expect, it } from 'vitest';
import { parseKeyValues, parseMemStats, parseNameList, toVmState } from '../../../drivers/libvirt/parse.ts';

describe('virsh output parsers', () => {
  it('dominfo', () => {
    const kv = parseKeyValues(
      'Id:             3\nName:           web-1\nUUID:           6fedf330-1480-4635-b61f-10ed4ada4e82\nOS Type:        hvm\nState:          shut off\nCPU(s):         1\nMax memory:     262144 KiB\nPersistent:     yes\nAutostart:      disable\nSecurity model: none\n',
    );
    expect(kv.get('state')).toBe('shut off');
    expect(kv.get('autostart')).toBe('disable');
    expect(kv.get('uuid')).toBe('6fedf330-1480-4635-b61f-10ed4ada4e82');
    expect(kv.get('cpu(s)')).toBe('1');
  });

  it.each([
    ['running', 'running'],
    ['idle', 'running'],
    ['paused', 'paused'],
    ['pmsuspended', 'paused'],
    ['shut off', 'shut off'],
    ['crashed', 'crashed'],
    ['in shutdown', 'other'],
    ['shut off\n', 'shut off'],
  ])('state %j -> %s', (word, state) => {
    expect(toVmState(word)).toBe(state);
  });

  it('name lists drop blank lines', () => {
    expect(parseNameList('vm1\nvm2\n\n')).toEqual(['vm1', 'vm2']);
    expect(parseNameList('\n')).toEqual([]);
  });

  it('nodememstats', () => {
    const m = parseMemStats(
      'total  :             24591752 KiB\nfree   :             20000000 KiB\nbuffers:                 1000 KiB\ncached :              2000000 KiB\n',
    );
    expect(m.get('total')).toBe(24591752 * 1024);
    expect(m.get('free')).toBe(20000000 * 1024);
    expect(m.get('cached')).toBe(2000000 * 1024);
  });
});
