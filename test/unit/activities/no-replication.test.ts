/** A site worker started without replication refuses replication work at once, saying why. */
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { createSiteActivities } from '../../../activities/index.ts';
import { REPLICATION_ACTIVITY_NAMES } from '../../../activities/replication.ts';
import { REPROTECT_ACTIVITY_NAMES } from '../../../activities/reprotect.ts';
import type { SiteDriver } from '../../../drivers/types.ts';

describe('a site worker without replication', () => {
  it('answers every replication and reprotect activity with a non-retryable refusal naming the site', async () => {
    const acts = createSiteActivities({ siteName: 'east', driver: {} as SiteDriver });
    expect(REPLICATION_ACTIVITY_NAMES).toContain('replicationPullCommit');
    expect(REPROTECT_ACTIVITY_NAMES).toContain('reprotectSource');
    for (const name of [...REPLICATION_ACTIVITY_NAMES, ...REPROTECT_ACTIVITY_NAMES]) {
      const err = await (acts[name] as (i: unknown) => Promise<unknown>)({ vm: 'db-1' }).catch(
        (e: unknown) => e,
      );
      expect(err, name).toBeInstanceOf(ApplicationFailure);
      expect((err as ApplicationFailure).nonRetryable).toBe(true);
      expect((err as ApplicationFailure).type).toBe('NO_REPLICA_STORE');
      expect((err as ApplicationFailure).message).toContain("site east's worker serves no replication");
    }
  });
});
