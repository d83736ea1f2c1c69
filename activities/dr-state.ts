/**
 * The site's side of the DR-state record (drstate/): the controller hands each site the new
 * version at every transition, and reads both sites' newest when it starts without a state. Run
 * by the site's own worker, on its own storage and key: a site that is down simply does not
 * answer, and is brought up to date at the next write once it is back.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { DrStateRecord, SiteRecordAnswer } from '../drstate/record.ts';
import { readNewest, type WriteOutcome, writeRecord } from '../drstate/store.ts';
import { inputName } from './input-paths.ts';

export interface DrStateSiteDeps {
  site: string;
  storage: () => string;
  key: () => Buffer;
}

export function createDrStateActivities(deps: DrStateSiteDeps) {
  return {
    async readDrState(input: { runbook: string }): Promise<SiteRecordAnswer> {
      const runbook = inputName('runbook name', input?.runbook);
      return readNewest(deps.storage(), deps.site, deps.key(), runbook);
    },
    async writeDrState(input: { record: DrStateRecord }): Promise<WriteOutcome> {
      const record = input?.record;
      inputName('runbook name', record?.runbook);
      if (!Number.isInteger(record.version) || record.version < 1) {
        throw ApplicationFailure.nonRetryable(
          `DR-state version ${String(record.version)} is not a positive integer`,
          'BAD_INPUT',
        );
      }
      return writeRecord(deps.storage(), deps.site, deps.key(), record);
    },
  };
}

export type DrStateActivities = ReturnType<typeof createDrStateActivities>;

/** A site worker that holds no key cannot sign: it refuses, saying why, rather than write unsigned. */
export function noDrStateKey(site: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'NO_DR_STATE_KEY',
    message: `site ${site}'s worker holds no transfer key: it cannot sign or check DR-state records`,
    nonRetryable: true,
    details: [
      { hint: 'start the site worker with LIFEBOAT_REPLICATION_TLS_DIR (lifeboat site-tls issues the key)' },
    ],
  });
}
