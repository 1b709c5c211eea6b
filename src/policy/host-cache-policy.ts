import { isAbsolute } from "node:path";
import { CorruptStickError } from "../errors/errors.js";
import { parsePolicyJson } from "./policy-json.js";
import { oneOf, policySize } from "./policy-values.js";

/**
 * What the policy says about the host cache of base chunks (DESIGN section 6). Keys of policy.json:
 * - `host`: "kiosk" (default: the cache is removed at exit, so the host is left as it was found),
 *   "trusted" (it stays for the next session's faster start; it holds only base chunks,
 *   still sealed under the base key, useless without the stick and its passphrase), or "ask"
 *   (the person at the host is asked once per host; without a terminal to ask on, a kiosk).
 * - `cacheSize`: the most it may hold, bytes or a size such as "4G"; default 4G; 0 turns it off.
 * - `cacheShareOfFreeDisk`: the most it may hold as a share of the free space where it lives
 *   (counting what it already holds), a number above 0 and at most 1; default 0.25.
 * - `cacheDir`: an absolute folder for it; default the OS's per-user cache folder
 *   (src/host/cache-dir.ts). `--cache-dir` overrides it: the person at the host knows its disks.
 */
export interface HostCachePolicy {
  host: "kiosk" | "trusted" | "ask";
  maxBytes: number;
  freeShare: number;
  dir: string | undefined;
}

export const DEFAULT_HOST_CACHE_POLICY: HostCachePolicy = { host: "kiosk", maxBytes: 4 * 1024 ** 3, freeShare: 0.25, dir: undefined };

export function hostCachePolicy(policyBytes: Buffer | undefined): HostCachePolicy {
  if (policyBytes === undefined) return DEFAULT_HOST_CACHE_POLICY;
  const p = parsePolicyJson(policyBytes);
  const d = DEFAULT_HOST_CACHE_POLICY;
  return {
    host: p.host === undefined ? d.host : oneOf(p.host, "host", ["kiosk", "trusted", "ask"] as const),
    maxBytes: p.cacheSize === undefined ? d.maxBytes : policySize(p.cacheSize, "cacheSize", 0),
    freeShare: p.cacheShareOfFreeDisk === undefined ? d.freeShare : share(p.cacheShareOfFreeDisk),
    dir: p.cacheDir === undefined ? d.dir : folder(p.cacheDir),
  };
}

function share(value: unknown): number {
  if (typeof value === "number" && value > 0 && value <= 1) return value;
  throw new CorruptStickError(`policy.json: cacheShareOfFreeDisk must be a number above 0 and at most 1, not ${JSON.stringify(value)}`);
}

function folder(value: unknown): string {
  if (typeof value === "string" && isAbsolute(value)) return value;
  throw new CorruptStickError(`policy.json: cacheDir must be an absolute folder, not ${JSON.stringify(value)}`);
}
