import type { StickSecrets } from "../../stick-layout/secrets.js";
import { hostCachePolicy } from "../policy/host-cache-policy.js";
import { stickCacheDir } from "./cache-folder.js";
import { HostCache } from "./host-cache.js";
import type { SessionResidue } from "../securewipe/residue.js";

/** Where a session wants its host cache, before the stick's policy is known. */
export interface StickCacheOptions {
  /** `--cache-dir`: wins over the policy's cacheDir. */
  dir?: string;
  /** The OS's per-user cache folder (src/host/cache-dir.ts), when neither gives one. */
  defaultDir: string;
  warn: (message: string) => void;
  /** The session's residue: the cache folder (and folders above it) are journaled before they are made. */
  residue?: SessionResidue;
  /** Policy `host: "ask"`: whether this host keeps the cache (asked once per host); without it, a kiosk. */
  hostTrust?: () => Promise<"trusted" | "kiosk">;
}

/** The unlocked stick's host cache as its policy says; undefined when the policy turns it off (cacheSize 0). */
export async function openStickCache(
  o: StickCacheOptions,
  stick: { policyBytes: Buffer | undefined; secrets: StickSecrets; stickId: Uint8Array; chunkSize: number },
): Promise<HostCache | undefined> {
  const policy = hostCachePolicy(stick.policyBytes);
  if (policy.maxBytes === 0) return undefined;
  const dir = stickCacheDir(o.dir ?? policy.dir ?? o.defaultDir, stick.secrets.userKey, stick.stickId);
  const host = policy.host === "ask" ? ((await o.hostTrust?.()) ?? "kiosk") : policy.host;
  const keep = host === "trusted";
  try {
    await o.residue?.recordCacheFolder(dir, keep);
  } catch (err) {
    o.warn(`the host cache is off for this session: its folder ${dir} cannot be made and journaled (${(err as Error).message}); chunks come from the stick`);
    return undefined;
  }
  return HostCache.open({
    dir,
    maxBytes: policy.maxBytes,
    freeShare: policy.freeShare,
    keep,
    ...(o.residue === undefined ? {} : { wipePasses: o.residue.passes }),
    chunkSize: stick.chunkSize,
    warn: o.warn,
  });
}
