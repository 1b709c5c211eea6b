import { CorruptStickError } from "../errors/errors.js";

/** policy.json's top-level object; a stick's policy that is not one is damaged (make-stick checked it). */
export function parsePolicyJson(policyBytes: Buffer): Record<string, unknown> {
  let policy: unknown;
  try {
    policy = JSON.parse(policyBytes.toString("utf8"));
  } catch {
    throw new CorruptStickError("policy.json is not valid JSON");
  }
  if (typeof policy !== "object" || policy === null || Array.isArray(policy)) throw new CorruptStickError("policy.json is not a JSON object");
  return policy as Record<string, unknown>;
}
