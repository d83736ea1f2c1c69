/** Typed keys for Lifeboat's search attributes (names from platform/names.ts). */
import { defineSearchAttributeKey } from '@temporalio/common';
import { SEARCH_ATTRIBUTES } from '../platform/names.ts';

export const SA = {
  runbook: defineSearchAttributeKey(SEARCH_ATTRIBUTES.runbook, 'KEYWORD'),
  operation: defineSearchAttributeKey(SEARCH_ATTRIBUTES.operation, 'KEYWORD'),
  site: defineSearchAttributeKey(SEARCH_ATTRIBUTES.site, 'KEYWORD'),
  state: defineSearchAttributeKey(SEARCH_ATTRIBUTES.state, 'KEYWORD'),
} as const;
