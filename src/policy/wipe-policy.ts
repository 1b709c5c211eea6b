import { stickPolicy } from "./policy-schema.js";

/** policy.json's `wipePasses` (docs/POLICY.md); undefined: the launcher's default. */
export function wipePassesPolicy(policyBytes: Buffer | undefined): number | undefined {
  return stickPolicy(policyBytes).wipePasses;
}
