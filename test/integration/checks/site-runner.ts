/**
 * Runs site activities the way a site worker does: inside a lab site (its network and mount
 * namespaces), on the real libvirt driver at `qemu:///system`, with the default guest probes.
 * Started by checks.test.ts through `siteCommand`; each call is one activity run in Temporal's
 * mock activity context. Reads `{ steps }` (JSON) from argv[2], prints one JSON result per step.
 */
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { CheckInput, VmActionInput } from '../../../activities/index.ts';
import { createSiteActivities } from '../../../activities/index.ts';
import { createLibvirtDriver } from '../../../drivers/libvirt/index.ts';
import { SITE_INNER_URI, SITE_STORAGE_PATH } from '../../../lab/config.ts';

export type RunnerStep =
  | { do: 'runCheck'; input: CheckInput }
  | { do: 'vmAction'; input: VmActionInput }
  | { do: 'agentExec'; vm: string; argv: string[] }
  | { do: 'serialRunOffset'; vm: string }
  | { do: 'readSerial'; vm: string };

export type RunnerResult =
  | { ok: true; value: unknown }
  | { ok: false; type: string; message: string; nonRetryable?: boolean };

const site = process.env.LIFEBOAT_SITE ?? 'primary';
const driver = createLibvirtDriver({ site, uri: SITE_INNER_URI, storage: SITE_STORAGE_PATH });
const activities = createSiteActivities({ siteName: site, driver });

async function runStep(step: RunnerStep): Promise<unknown> {
  switch (step.do) {
    case 'runCheck':
      return new MockActivityEnvironment().run(activities.runCheck, step.input);
    case 'vmAction':
      return new MockActivityEnvironment().run(activities.vmAction, step.input);
    case 'agentExec':
      return driver.agentExec(step.vm, step.argv, { timeoutMs: 20_000 });
    case 'serialRunOffset':
      return (await driver.serialRunOffset(step.vm)) ?? null;
    case 'readSerial':
      return driver.readSerial(step.vm);
  }
}

const { steps } = JSON.parse(process.argv[2] ?? '{"steps":[]}') as { steps: RunnerStep[] };
const results: RunnerResult[] = [];
for (const step of steps) {
  try {
    results.push({ ok: true, value: await runStep(step) });
  } catch (err) {
    if (err instanceof ApplicationFailure) {
      results.push({
        ok: false,
        type: err.type ?? 'ApplicationFailure',
        message: err.message,
        nonRetryable: err.nonRetryable === true,
      });
    } else {
      const e = err instanceof Error ? err : new Error(String(err));
      results.push({ ok: false, type: e.name, message: e.message });
    }
  }
}
process.stdout.write(`${JSON.stringify(results)}\n`);
