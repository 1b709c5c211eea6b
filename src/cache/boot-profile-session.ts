import type { ChunkLocation } from "../../stick-layout/chunk-index.js";
import { bootProfileKey, profileChunkCount, type BootProfile } from "../../stick-layout/boot-profile.js";
import { loadBootProfile, saveBootProfile } from "./boot-profile-file.js";
import { BootPrefetch, type PrefetchRead, type PrefetchStats } from "./boot-prefetch.js";
import { BootProfileRecorder } from "./boot-profile-recorder.js";
import { CacheWarm } from "./cache-warm.js";
import type { WarmResult } from "./cache-warm-worker.js";
import type { HostCache } from "./host-cache.js";
import { heldInOrder, planPrefetch } from "./prefetch-plan.js";

/** A session records the chunks it reads in its first 3 minutes: a boot, and the first apps started after it. */
export const RECORD_WINDOW_MS = 3 * 60 * 1000;

export interface BootProfileOptions {
  /** How long to record from the start (default RECORD_WINDOW_MS); null: until close (`make-stick profile`). */
  recordMs?: number | null;
  /** Save at close whatever was recorded (`make-stick profile`). Otherwise a session that ends inside its window saves only when the stick had no profile. */
  saveAtClose?: boolean;
  /** Fetch the stick's profile into the host cache at the start (default true). */
  prefetch?: boolean;
  /** Each read of the stick the prefetch makes, in order. */
  onPrefetchRead?: (read: PrefetchRead) => void;
}

export interface ProfileStats {
  /** Chunks in the profile the stick had at the start (undefined: none). */
  found: number | undefined;
  prefetch: PrefetchStats | undefined;
  /** Host cache entries of the profile's chunks read ahead into the host's page cache (undefined: none were held). */
  warmed: number | undefined;
  /** Chunks recorded this session, and whether they were saved on the stick. */
  recorded: number;
  saved: boolean;
}

export interface ProfileSessionInput {
  stickDir: string;
  stickId: Uint8Array;
  userKey: Uint8Array;
  baseKey: Uint8Array;
  baseVersion: number;
  chunkSize: number;
  /** The host cache (prefetch needs one that is on). */
  cache: HostCache | undefined;
  locate: (id: Uint8Array) => ChunkLocation | undefined;
  urgentStickReads: Int32Array;
  warn: (message: string) => void;
  options: BootProfileOptions;
}

/**
 * A session's boot profile (FORMAT.md §25): loads the stick's, prefetches it into the host cache
 * in the background, records this session's first reads and saves them on the stick when the
 * window ends (or at close, by the rules of BootProfileOptions). Nothing here fails the session:
 * a damaged profile, a read-only stick or a failed prefetch is a warning.
 */
export class BootProfileSession {
  private readonly recorder = new BootProfileRecorder();
  private readonly timer: NodeJS.Timeout | undefined;
  private saving: Promise<void> | undefined;
  private saved = false;

  private constructor(
    private readonly o: ProfileSessionInput,
    private readonly key: Buffer,
    private readonly found: BootProfile | undefined,
    private readonly prefetch: BootPrefetch | undefined,
    private readonly warm: CacheWarm | undefined,
  ) {
    const ms = o.options.recordMs === undefined ? RECORD_WINDOW_MS : o.options.recordMs;
    if (ms !== null) {
      this.timer = setTimeout(() => {
        this.recorder.stop();
        this.saving = this.save();
      }, ms);
      this.timer.unref();
    }
  }

  static async open(o: ProfileSessionInput): Promise<BootProfileSession> {
    const key = bootProfileKey(o.userKey, o.stickId);
    const { profile, problems } = await loadBootProfile(o.stickDir, key, o.stickId);
    for (const p of problems) o.warn(`the stick's boot profile: ${p}; ${profile ? "the other slot is used" : "this start has none"}`);
    let prefetch: BootPrefetch | undefined;
    let warm: CacheWarm | undefined;
    if (profile !== undefined && o.options.prefetch !== false && o.cache?.isOn === true) {
      const cache = o.cache;
      // what the cache holds already, read ahead from the host disk while the stick is read for the rest
      const held = heldInOrder(profile.ids, (id) => cache.holds(id));
      if (held.length > 0) warm = new CacheWarm(cache.dir, held);
      const spans = planPrefetch({ ids: profile.ids, locate: o.locate, held: (id) => cache.holds(id), budgetBytes: cache.prefetchBudget });
      if (spans.length > 0) {
        prefetch = new BootPrefetch({
          stickDir: o.stickDir,
          chunkSize: o.chunkSize,
          baseKey: o.baseKey,
          cache,
          urgentStickReads: o.urgentStickReads,
          spans,
          warn: o.warn,
          ...(o.options.onPrefetchRead === undefined ? {} : { onRead: o.options.onPrefetchRead }),
        });
      }
    }
    return new BootProfileSession(o, key, profile, prefetch, warm);
  }

  /** A chunk asked for (called for every chunk read that reaches the stick's store, cached or not). */
  note(id: Uint8Array): void {
    this.recorder.note(id);
  }

  /** Resolves when the prefetch has ended (undefined: there was none). */
  async prefetchDone(): Promise<PrefetchStats | undefined> {
    return this.prefetch?.done;
  }

  /** Resolves when the read-ahead of held entries has ended (undefined: there was none). */
  async warmDone(): Promise<WarmResult | undefined> {
    return this.warm?.done;
  }

  /** The prefetch's counters so far (undefined: there is none). */
  prefetchSoFar(): PrefetchStats | undefined {
    return this.prefetch?.snapshot();
  }

  private async save(): Promise<void> {
    const ids = this.recorder.recorded();
    if (ids.length === 0) return;
    if (this.found?.ids.equals(ids) === true) {
      // the stick holds this very order already: spare it the write
      this.saved = true;
      return;
    }
    const profile: BootProfile = {
      sequence: (this.found?.sequence ?? 0) + 1,
      baseVersion: this.o.baseVersion,
      recordedMs: Date.now(),
      durationMs: this.recorder.durationMs,
      ids,
    };
    try {
      await saveBootProfile(this.o.stickDir, this.key, this.o.stickId, profile);
      this.saved = true;
    } catch (err) {
      this.o.warn(`the boot profile could not be saved on the stick (${(err as Error).message}); the next start ${this.found ? "uses the one it had" : "has none"}`);
    }
  }

  /** Stops the prefetch and the recording; saves the recording when the rules say so. */
  async close(): Promise<ProfileStats> {
    clearTimeout(this.timer);
    const prefetch = await this.prefetch?.stop();
    const warmed = await this.warm?.stop();
    if (this.recorder.recording) {
      this.recorder.stop();
      if (this.o.options.saveAtClose === true || this.found === undefined) this.saving = this.save();
    }
    await this.saving;
    this.key.fill(0);
    return { found: this.found && profileChunkCount(this.found), prefetch, warmed: warmed?.files, recorded: this.recorder.chunks, saved: this.saved };
  }
}
