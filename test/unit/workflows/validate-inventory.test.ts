import { describe, expect, it } from 'vitest';
import { validateSiteInventoryInput } from '../../../workflows/validate-inventory.ts';
import { guardedInputs, itRefusesGarbage } from '../../support/guarded-inputs.ts';
import { diamondPlan } from '../../support/plans.ts';

const { inventory } = guardedInputs(diamondPlan());

describe('validateSiteInventoryInput', () => {
  it('accepts what the live check sends', () => {
    expect(validateSiteInventoryInput(inventory)).toEqual([]);
    expect(validateSiteInventoryInput({ ...inventory, scheduleToStartMs: 500 })).toEqual([]);
    expect(validateSiteInventoryInput({ sites: [] })).toEqual([]);
  });

  it('names each malformed site and a bad timeout', () => {
    const [site] = inventory.sites;
    const sites = [site, { ...site, role: 'tertiary', site: '' }, { ...site, request: { vms: 'x' } }, 7];
    expect(validateSiteInventoryInput({ sites, scheduleToStartMs: -1 })).toEqual([
      'scheduleToStartMs -1 is not a positive number',
      'sites[1].role tertiary is not one of primary, secondary',
      'sites[1].site is missing',
      'sites[2].request needs vms, storage (lists of names) and host (true or false)',
      'sites[3] is not an object',
    ]);
  });

  itRefusesGarbage(validateSiteInventoryInput);
});
