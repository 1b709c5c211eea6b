import { CorruptStickError, UsageError } from "../errors/errors.js";
import { parseSize } from "../util/parse-size.js";
import { parsePolicyJson } from "./policy-json.js";

/**
 * What the policy says about writes to the system disk (DESIGN section 1). Only these two
 * fields of policy.json are read so far; the full schema arrives with the policy engine.
 * - `systemChanges`: "volatile" (default: host scratch, gone at exit) or "persistent"
 *   (a log on the stick, kept until rejuvenate or a base update).
 * - `systemChangesSize`: room for persistent changes, bytes or a size such as "2G";
 *   default a quarter of the system disk.
 */
export type SystemChanges = { mode: "volatile" } | { mode: "persistent"; capacity: number };

export const DEFAULT_PERSISTENT_SHARE = 0.25;

export function systemChangesPolicy(policyBytes: Buffer | undefined, systemDiskSize: number): SystemChanges {
  if (policyBytes === undefined) return { mode: "volatile" };
  const { systemChanges, systemChangesSize } = parsePolicyJson(policyBytes);
  if (systemChanges === undefined || systemChanges === "volatile") return { mode: "volatile" };
  if (systemChanges !== "persistent") throw new CorruptStickError(`policy.json: systemChanges must be "volatile" or "persistent", not ${JSON.stringify(systemChanges)}`);
  let capacity = Math.ceil((systemDiskSize * DEFAULT_PERSISTENT_SHARE) / 512) * 512;
  if (typeof systemChangesSize === "number") capacity = systemChangesSize;
  else if (typeof systemChangesSize === "string") {
    try {
      capacity = parseSize(systemChangesSize, "systemChangesSize");
    } catch (err) {
      if (err instanceof UsageError) throw new CorruptStickError(`policy.json: ${err.message}`);
      throw err;
    }
  } else if (systemChangesSize !== undefined) throw new CorruptStickError("policy.json: systemChangesSize must be a size such as \"2G\"");
  if (!Number.isSafeInteger(capacity) || capacity <= 0) throw new CorruptStickError("policy.json: systemChangesSize must be positive");
  return { mode: "persistent", capacity };
}
