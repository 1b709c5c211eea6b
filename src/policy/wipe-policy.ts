import { CorruptStickError } from "../errors/errors.js";
import { parsePolicyJson } from "./policy-json.js";

/** The most overwrite passes asked for: past one, extra passes only cost time (THREAT-MODEL.md). */
export const MAX_WIPE_PASSES = 35;

/**
 * policy.json's `wipePasses`: how many times each host file is overwritten before it is removed
 * at the end of a session, a whole number from 1 to 35; default 1.
 */
export function wipePassesPolicy(policyBytes: Buffer | undefined): number | undefined {
  if (policyBytes === undefined) return undefined;
  const v = parsePolicyJson(policyBytes).wipePasses;
  if (v === undefined) return undefined;
  if (typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= MAX_WIPE_PASSES) return v;
  throw new CorruptStickError(`policy.json: wipePasses must be a whole number from 1 to ${MAX_WIPE_PASSES}, not ${JSON.stringify(v)}`);
}
