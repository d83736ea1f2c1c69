import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { devServerArgs, TEMPORAL_DYNAMIC_CONFIG } from '../../../platform/dev-server.ts';
import { homePaths, lifeboatHome, REPO_ROOT } from '../../../platform/home.ts';

describe('devServerArgs', () => {
  const base = { dbFile: '/h/temporal.db', ip: '127.0.0.1', port: 7233, uiPort: 8233, namespace: 'default' };

  test('persistent SQLite file, loopback, UI on its port', () => {
    expect(devServerArgs({ ...base, headless: false })).toEqual([
      'server',
      'start-dev',
      '--db-filename',
      '/h/temporal.db',
      '--ip',
      '127.0.0.1',
      '--port',
      '7233',
      '--ui-port',
      '8233',
      '--ui-disable-news-fetch',
      '--log-format',
      'json',
      '--log-level',
      'warn',
      '--dynamic-config-value',
      'history.transferProcessorMaxPollRPS=1000',
      '--dynamic-config-value',
      'history.timerProcessorMaxPollRPS=1000',
      '--dynamic-config-value',
      'history.visibilityProcessorMaxPollRPS=1000',
    ]);
  });

  test('docker-compose runs Temporal with the same dynamic config as the dev server', () => {
    const file = parse(
      readFileSync(path.join(REPO_ROOT, 'deploy', 'temporal', 'dynamicconfig.yaml'), 'utf8'),
    ) as Record<string, Array<{ value: unknown }>>;
    for (const [key, value] of Object.entries(TEMPORAL_DYNAMIC_CONFIG)) {
      expect(file[key]?.[0]?.value, key).toBe(value);
    }
  });

  test('headless has no UI port; another namespace is created at launch', () => {
    const args = devServerArgs({ ...base, headless: true, namespace: 'dr' });
    expect(args).toContain('--headless');
    expect(args).not.toContain('--ui-port');
    expect(args.slice(args.indexOf('--namespace'), args.indexOf('--namespace') + 2)).toEqual([
      '--namespace',
      'dr',
    ]);
  });
});

describe('lifeboatHome', () => {
  test('LIFEBOAT_HOME wins, else .lifeboat in the repository', () => {
    expect(lifeboatHome({ LIFEBOAT_HOME: '/var/lib/lifeboat' })).toBe('/var/lib/lifeboat');
    expect(lifeboatHome({})).toBe(`${REPO_ROOT}/.lifeboat`);
    expect(homePaths('/x').serverDb).toBe('/x/temporal.db');
  });
});
