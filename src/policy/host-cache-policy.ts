import { POLICY_SCHEMA, stickPolicy } from "./policy-schema.js";

/** What the policy says about the host cache of base chunks (DESIGN section 6; docs/POLICY.md: host, cacheSize, cacheShareOfFreeDisk, cacheDir). */
export interface HostCachePolicy {
  host: "kiosk" | "trusted" | "ask";
  maxBytes: number;
  freeShare: number;
  dir: string | undefined;
}

export const DEFAULT_HOST_CACHE_POLICY: HostCachePolicy = {
  host: POLICY_SCHEMA.host.default,
  maxBytes: POLICY_SCHEMA.cacheSize.default,
  freeShare: POLICY_SCHEMA.cacheShareOfFreeDisk.default,
  dir: POLICY_SCHEMA.cacheDir.default,
};

export function hostCachePolicy(policyBytes: Buffer | undefined): HostCachePolicy {
  const p = stickPolicy(policyBytes);
  return { host: p.host, maxBytes: p.cacheSize, freeShare: p.cacheShareOfFreeDisk, dir: p.cacheDir };
}
