/**
 * Activity factories. Each receives its dependencies so tests pass real or test drivers
 * without module mocking. Orchestrator activities run on the shared queue; site activities
 * run only on their site's worker (`site-<name>` queue).
 */
// biome-ignore lint/complexity/noBannedTypes: filled in as activities are added
export type OrchestratorDeps = {};

export interface SiteDeps {
  siteName: string;
  driver: import('../drivers/types.ts').SiteDriver;
}

export function createOrchestratorActivities(_deps: OrchestratorDeps) {
  return {};
}

export function createSiteActivities(_deps: SiteDeps) {
  return {};
}
