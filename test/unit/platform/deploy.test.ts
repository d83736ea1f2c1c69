import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../../platform/home.ts';

// Syntax is checked by scripts/check-deploy.sh (docker-compose config, promtool); these tests
// check that the pieces fit together.
const read = (f: string) => readFileSync(path.join(REPO_ROOT, f), 'utf8');

interface Service {
  image?: string;
  build?: { dockerfile?: string };
  command?: string[] | string;
  depends_on?: Record<string, { condition: string }> | string[];
  environment?: Record<string, string>;
  volumes?: string[];
}
const compose = parse(read('docker-compose.yml')) as { services: Record<string, Service> };
const prometheus = parse(read('deploy/prometheus/prometheus.yml')) as {
  scrape_configs: Array<{ job_name: string; static_configs?: Array<{ targets: string[] }> }>;
};

describe('docker-compose.yml', () => {
  const s = compose.services;

  test('has the production pieces and no deprecated auto-setup image', () => {
    expect(Object.keys(s).sort()).toEqual(
      [
        'orchestrator-worker',
        'postgresql',
        'prometheus',
        'temporal',
        'temporal-schema',
        'temporal-ui',
      ].sort(),
    );
    for (const svc of Object.values(s)) expect(svc.image ?? '').not.toContain('auto-setup');
    expect(s.temporal?.image).toMatch(/^temporalio\/server:/);
    expect(s['temporal-ui']?.image).toMatch(/^temporalio\/ui:/);
  });

  test('the schema is set up with admin-tools before the server starts', () => {
    const schema = s['temporal-schema']!;
    expect(schema.image).toMatch(/^temporalio\/admin-tools:/);
    const script = (Array.isArray(schema.command) ? schema.command : [schema.command]).join('\n');
    for (const step of ['create-database', 'setup-schema', 'update-schema', 'temporal_visibility']) {
      expect(script).toContain(step);
    }
    expect(s.temporal?.depends_on).toEqual({
      'temporal-schema': { condition: 'service_completed_successfully' },
    });
  });

  test('Prometheus scrapes the orchestrator worker on the port it serves /metrics on', () => {
    const worker = s['orchestrator-worker']!;
    expect(worker.build?.dockerfile).toBe('Dockerfile');
    expect(worker.command).toEqual(['worker', 'orchestrator']);
    expect(worker.environment?.LIFEBOAT_METRICS_HOST).toBe('0.0.0.0');
    const job = prometheus.scrape_configs.find((j) => j.job_name === 'lifeboat-orchestrator');
    expect(job?.static_configs?.[0]?.targets).toEqual([
      `orchestrator-worker:${worker.environment?.LIFEBOAT_METRICS_PORT}`,
    ]);
    expect(s.prometheus?.volumes).toContain('./deploy/prometheus:/etc/prometheus:ro');
  });
});

describe('deploy/site-worker', () => {
  test('the unit runs `lifeboat worker site <instance>` with its env file and stops with SIGTERM', () => {
    const unit = read('deploy/site-worker/lifeboat-site-worker@.service');
    expect(unit).toMatch(/^ExecStart=.*bin\/lifeboat\.mjs worker site %i$/m);
    expect(unit).toMatch(/^EnvironmentFile=\/etc\/lifeboat\/site-%i\.env$/m);
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
    const env = read('deploy/site-worker/site-worker.env');
    for (const v of [
      'TEMPORAL_ADDRESS',
      'TEMPORAL_NAMESPACE',
      'TEMPORAL_TLS_CERT',
      'TEMPORAL_TLS_KEY',
      'LIFEBOAT_METRICS_PORT',
    ]) {
      expect(env).toMatch(new RegExp(`^${v}=`, 'm'));
    }
  });
});
