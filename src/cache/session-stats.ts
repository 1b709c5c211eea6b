import type { StickReads } from "../chunkstore/chunk-reader-pool.js";
import type { ProfileStats } from "./boot-profile-session.js";
import { describeStats, type CacheStats } from "./cache-stats.js";

/** What a session's reads of base chunks did (OpenStick.stats). */
export interface SessionStats {
  cache: CacheStats | undefined;
  /** Every read of the stick's packs, the boot prefetch's included. */
  stickReads: StickReads;
  profile: ProfileStats | undefined;
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function describeProfile(p: ProfileStats): string {
  const found = p.found === undefined ? "the stick had none" : `the stick's has ${p.found} chunks`;
  const f = p.prefetch;
  const prefetch = f === undefined ? "" : `; prefetched ${f.stored} chunks in ${f.reads} reads (${mib(f.readBytes)})${f.complete ? "" : ", stopped early"}`;
  const warmed = p.warmed === undefined ? "" : `; read ${p.warmed} host cache entries ahead`;
  const recorded = p.recorded === 0 ? "" : `; recorded ${p.recorded} chunks${p.saved ? ", saved on the stick" : ""}`;
  return `boot profile: ${found}${prefetch}${warmed}${recorded}`;
}

/** Lines for the log at a session's end. */
export function describeSession(s: SessionStats): string[] {
  return [
    ...(s.cache ? [describeStats(s.cache)] : []),
    `stick: ${s.stickReads.reads} reads, ${mib(s.stickReads.bytes)}`,
    ...(s.profile ? [describeProfile(s.profile)] : []),
  ];
}

/** `--stats`: one `<group>.<name> <value>` line each, for people and scripts alike. */
export function sessionStatsLines(s: SessionStats): string {
  const groups: [string, object | undefined][] = [
    ["cache", s.cache],
    ["stick", s.stickReads],
    ["profile", s.profile && { found: s.profile.found, warmed: s.profile.warmed, recorded: s.profile.recorded, saved: s.profile.saved }],
    ["prefetch", s.profile?.prefetch],
  ];
  return groups
    .flatMap(([group, values]) => Object.entries(values ?? {}).filter(([, v]) => v !== undefined).map(([k, v]) => `${group}.${k} ${String(v)}\n`))
    .join("");
}
