import { CorruptStickError } from "../errors/errors.js";
import { parsePolicyJson } from "./policy-json.js";

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

function updateUrl(v: unknown): URL | undefined {
  if (v === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = typeof v === "string" ? new URL(v) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) throw new CorruptStickError(`policy.json: updateUrl must be an http or https URL, not ${JSON.stringify(v)}`);
  return url;
}

export function updatePolicy(policyBytes: Buffer | undefined): UpdatePolicy {
  const p = policyBytes === undefined ? {} : parsePolicyJson(policyBytes);
  const limit = p.updatePostponeLimit ?? DEFAULT_POSTPONE_LIMIT;
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 0) throw new CorruptStickError(`policy.json: updatePostponeLimit must be a whole number of at least 0, not ${JSON.stringify(limit)}`);
  const timeout = p.updateCheckTimeoutSeconds ?? DEFAULT_CHECK_TIMEOUT_SECONDS;
  if (typeof timeout !== "number" || !Number.isFinite(timeout) || timeout <= 0) throw new CorruptStickError(`policy.json: updateCheckTimeoutSeconds must be a number of seconds above 0, not ${JSON.stringify(timeout)}`);
  return { url: updateUrl(p.updateUrl), postponeLimit: limit, checkTimeoutMs: timeout * 1000 };
}
