import { CorruptStickError, UsageError } from "../errors/errors.js";
import { parseSize } from "../util/parse-size.js";

// Checks of policy.json values that several policies share; a bad value is a damaged stick
// (make-stick checked the policy), named by its key.

export function oneOf<T extends string>(value: unknown, key: string, allowed: readonly T[]): T {
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
  throw new CorruptStickError(`policy.json: ${key} must be ${allowed.map((a) => JSON.stringify(a)).join(" or ")}, not ${JSON.stringify(value)}`);
}

/** Bytes, or a size such as "4G", at least `min`. */
export function policySize(value: unknown, key: string, min: number): number {
  let bytes: number;
  if (typeof value === "number") bytes = value;
  else if (typeof value === "string") {
    try {
      bytes = parseSize(value, key);
    } catch (err) {
      if (err instanceof UsageError) throw new CorruptStickError(`policy.json: ${err.message}`);
      throw err;
    }
  } else throw new CorruptStickError(`policy.json: ${key} must be a size such as "4G"`);
  if (!Number.isSafeInteger(bytes) || bytes < min) throw new CorruptStickError(`policy.json: ${key} must be ${min === 1 ? "positive" : `at least ${min}`}`);
  return bytes;
}
