import { PassThrough, Writable } from "node:stream";
import type { SessionStats } from "../cache/session-stats.js";
import type { Unlock } from "../chunkstore/stick-files.js";
import { StickvmError, UsageError } from "../errors/errors.js";
import type { PlayerOutcome } from "../run/player-session.js";
import { runStick } from "../run/run-stick.js";

/** How long `make-stick profile` lets the guest boot when no line ends it sooner. */
export const DEFAULT_PROFILE_SECONDS = 180;

export interface ProfileOptions {
  stick: string;
  unlock: Unlock;
  /** Stop once the guest's console prints a line containing this text (its boot is done). */
  untilLine?: string;
  /** Stop after this many seconds in any case. */
  seconds: number;
  powerdownTimeoutMs: number;
  cacheDir?: string;
  /** Where the guest's console goes (the admin watches the boot), if anywhere. */
  guestOutput?: Writable;
  /** Ctrl-C and the like: stop early (what was recorded is saved). */
  stopRequests: (listener: () => void) => () => void;
  onStatus: (message: string) => void;
  onWarning: (message: string) => void;
}

export interface ProfileResult {
  outcome: PlayerOutcome;
  /** Chunks in the profile now on the stick. */
  chunks: number;
  /** Why the recording ended. */
  endedBy: "line" | "time" | "guest" | "stop";
}

/**
 * `make-stick profile`: boots the stick once, headless, recording the order in which its chunks
 * are first read (the launcher's boot profile, FORMAT.md §25) until the guest prints `untilLine`,
 * the time is up, or the guest powers off; then powers the guest off and saves the profile on the
 * stick, so that its first start on any host prefetches what the boot reads.
 */
export async function recordBootProfile(o: ProfileOptions): Promise<ProfileResult> {
  if (!Number.isFinite(o.seconds) || o.seconds <= 0) throw new UsageError(`--seconds ${o.seconds} is not a positive number of seconds`);
  const listeners = new Set<() => void>();
  let endedBy: ProfileResult["endedBy"] | undefined;
  const stop = (why: NonNullable<typeof endedBy>): void => {
    endedBy ??= why;
    for (const l of listeners) l();
  };
  const unsubscribe = o.stopRequests(() => { stop("stop"); });
  const timer = setTimeout(() => { stop("time"); }, o.seconds * 1000);
  // the text's tail, so that a line cut across two writes is still found
  let tail = "";
  const guestConsole = new Writable({
    write(chunk: Buffer, _encoding, done) {
      o.guestOutput?.write(chunk);
      const wanted = o.untilLine;
      if (wanted !== undefined && endedBy === undefined) {
        tail += chunk.toString("utf8");
        if (tail.includes(wanted)) stop("line");
        tail = tail.slice(-wanted.length);
      }
      done();
    },
  });
  let stats: SessionStats | undefined;
  try {
    const outcome = await runStick({
      stick: o.stick,
      unlock: o.unlock,
      headless: true,
      powerdownTimeoutMs: o.powerdownTimeoutMs,
      // nothing to type into the guest: an input that never ends
      terminal: { input: new PassThrough(), output: guestConsole },
      stopRequests: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      onStatus: o.onStatus,
      onWarning: o.onWarning,
      ...(o.cacheDir === undefined ? {} : { cacheDir: o.cacheDir }),
      bootProfile: { recordMs: null, saveAtClose: true, prefetch: false },
      onStats: (s) => { stats = s; },
    });
    const profile = stats?.profile;
    if (profile === undefined || profile.recorded === 0) throw new StickvmError("PLAYER_FAILED", "the guest read nothing from the stick's disks: no boot profile was recorded");
    if (!profile.saved) throw new StickvmError("IO", "the boot profile could not be saved on the stick (see the warning above)");
    return { outcome, chunks: profile.recorded, endedBy: endedBy ?? "guest" };
  } finally {
    clearTimeout(timer);
    unsubscribe();
  }
}
