import { stickPolicy } from "./policy-schema.js";

/**
 * What policy.json says about base updates (FORMAT.md §27, §28):
 * - `updateUrl`: the update repository (an http or https URL) the launcher checks at start; none: no remote updates.
 * - `updatePostponeLimit`: how many starts a person may postpone a staged update that discards
 *   persistent system changes, a whole number ≥ 0; default 3.
 * - `updateCheckTimeoutSeconds`: how long the check may take, seconds > 0; default 10.
 */
export interface UpdatePolicy {
  url: URL | undefined;
  postponeLimit: number;
  checkTimeoutMs: number;
}

export const DEFAULT_POSTPONE_LIMIT = 3;
export const DEFAULT_CHECK_TIMEOUT_SECONDS = 10;

/** The update keys, as the policy schema (policy-schema.ts) checked them: one set of rules for build, verify and start. */
export function updatePolicy(policyBytes: Buffer | undefined): UpdatePolicy {
  const p = stickPolicy(policyBytes);
  return { url: p.updateUrl === undefined ? undefined : new URL(p.updateUrl), postponeLimit: p.updatePostponeLimit, checkTimeoutMs: p.updateCheckTimeoutSeconds * 1000 };
}
