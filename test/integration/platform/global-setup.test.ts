import { Connection } from '@temporalio/client';
import { describe, expect, inject, test } from 'vitest';
import {
  lifeboatSearchAttributeNames,
  listLifeboatSearchAttributes,
} from '../../../platform/search-attributes.ts';

describe('integration global setup', () => {
  test('test files reach the run’s server through TEMPORAL_ADDRESS, with Lifeboat’s search attributes', async () => {
    const address = inject('temporalAddress');
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(process.env.TEMPORAL_ADDRESS).toBe(address);
    expect(process.env.TEMPORAL_NAMESPACE).toBe(inject('temporalNamespace'));
    const connection = await Connection.connect({ address });
    try {
      const registered = await listLifeboatSearchAttributes(connection, inject('temporalNamespace'));
      expect(registered.sort()).toEqual(lifeboatSearchAttributeNames().sort());
    } finally {
      await connection.close();
    }
  });
});
