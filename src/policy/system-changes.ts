import { stickPolicy } from "./policy-schema.js";

/** What the policy says about writes to the system disk (DESIGN section 1; docs/POLICY.md: systemChanges, systemChangesSize). */
export type SystemChanges = { mode: "volatile" } | { mode: "persistent"; capacity: number };

const DEFAULT_PERSISTENT_SHARE = 0.25;

export function systemChangesPolicy(policyBytes: Buffer | undefined, systemDiskSize: number): SystemChanges {
  const p = stickPolicy(policyBytes);
  if (p.systemChanges === "volatile") return { mode: "volatile" };
  return { mode: "persistent", capacity: p.systemChangesSize ?? Math.ceil((systemDiskSize * DEFAULT_PERSISTENT_SHARE) / 512) * 512 };
}
