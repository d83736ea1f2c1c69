import { describe, expect, test } from 'vitest';
import { devServerArgs } from '../../../platform/dev-server.ts';
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
    ]);
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
