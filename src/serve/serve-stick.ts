import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import type { BootProfileOptions } from "../cache/boot-profile-session.js";
import type { SessionStats } from "../cache/session-stats.js";
import { openStick, type OpenStick } from "../chunkstore/open-stick.js";
import { cacheDir } from "../host/cache-dir.js";
import type { Unlock } from "../chunkstore/stick-files.js";
import { BaseDevice } from "../layers/base-device.js";
import type { BlockDevice } from "../layers/block-device.js";
import { EncryptedBlockFile } from "../layers/encrypted-block-file.js";
import { openLogOnStick } from "../layers/log-on-stick.js";
import { createScratchDevice, OverlayDevice } from "../layers/overlay-device.js";
import { UnpackedCache } from "../layers/unpacked-cache.js";
import { ZeroDevice } from "../layers/zero-device.js";
import { startNbdServer, type NbdExports, type NbdServer } from "../nbd/server.js";
import { removeStaleSocket } from "./stale-socket.js";
import { lockStick } from "./stick-lock.js";
import { systemChangesPolicy } from "../policy/system-changes.js";
import { wipePassesPolicy } from "../policy/wipe-policy.js";
import { hostCachePolicy } from "../policy/host-cache-policy.js";
import { hostWipeRoots } from "../securewipe/host-roots.js";
import { DEFAULT_WIPE_PASSES, SessionResidue, wipeStale, type WipeReport } from "../securewipe/residue.js";
import { ResidueJournal } from "../securewipe/residue-journal-file.js";
import { stickHostId } from "../securewipe/stick-host-id.js";
import { resolveHostTrust } from "../securewipe/host-trust.js";
import { hkdf32 } from "../crypto/kdf.js";
import { STICK_FILES } from "../../stick-layout/format.js";

/** Decoded chunks of the user template kept in memory: the user log above it holds what the guest changed. */
const TEMPLATE_CACHE_BYTES = 16 * 1024 * 1024;
/** Decoded base chunks kept in memory: the unpacked file serves any chunk read again once it is stored. */
const SYSTEM_CACHE_BYTES = 8 * 1024 * 1024;

export type Listen = { socket: string } | { port: number };

export interface ServeOptions {
  stick: string;
  unlock: Unlock;
  /** Where to listen; a function makes the place once the session's residue is journaled (run's socket goes in its run folder). */
  listen: Listen | ((residue: SessionResidue) => Promise<Listen>);
  /** Resolves the session: serving stops when it aborts (SIGINT, SIGTERM). */
  signal: AbortSignal;
  onReady?: (info: ServeReady) => void;
  /** Warnings worth a person's attention (an unexpected device error, a socket error, the host cache turned off). */
  onWarning?: (message: string) => void;
  /** The host cache's folder (`--cache-dir`); default the policy's, else the OS's per-user cache folder. */
  cacheDir?: string;
  /** How the boot profile is used and recorded (default: prefetch the stick's, record the first minutes). */
  bootProfile?: BootProfileOptions;
  /** What the session's reads did (host cache, stick, boot profile), once it has closed. */
  onStats?: (stats: SessionStats) => void;
  /** What was wiped: residue a session that died left on this host (at the start), and this session's own (at the end). */
  onWiped?: (report: WipeReport, which: "stale" | "session") => void;
  /** run.sh's copy of the launcher (`$STICKVM_LAUNCHER_COPY`): journaled, so that a crash does not leave it behind. */
  launcherCopy?: string;
  /** Overwrite passes when wiping host files (default: the policy's, else 1). */
  wipePasses?: number;
  /** Policy `host: "ask"`: asks the person whether this computer is theirs (once per host; without it, a kiosk). */
  askTrust?: () => Promise<boolean>;
}

export interface ServeReady {
  exports: { name: string; size: number; uri: string }[];
}

/** Persistent system changes belong to one base version: a base update starts a new folder. */
export function systemChangesDir(baseVersion: number): string {
  return `system-changes-${baseVersion.toString().padStart(8, "0")}`;
}

/** The base layer of the system disk, with this session's unpacked file in the session folder. */
async function systemBase(stick: OpenStick, sessionDir: string, wipePasses: number, warn: (message: string) => void): Promise<BaseDevice> {
  const unpacked = await UnpackedCache.create({ dir: sessionDir, size: stick.base.size, chunkSize: stick.manifest.chunkSize, wipePasses, warn });
  return new BaseDevice(stick.base, { cacheBytes: SYSTEM_CACHE_BYTES, unpacked });
}

/** The system disk: the base with this session's changes (volatile) or the stick's (persistent). Closing it leaves `base` open. */
async function systemDevice(stick: OpenStick, base: BaseDevice, sessionDir: string, wipePasses: number): Promise<BlockDevice> {
  const changes = systemChangesPolicy(stick.policyBytes, base.size);
  if (changes.mode === "volatile") return new OverlayDevice(base, await EncryptedBlockFile.create(sessionDir, "system", wipePasses));
  // a key of its own for the system-changes log, derived from the user key
  const key = hkdf32(stick.secrets.userKey, stick.header.stickId, "stickvm system changes v1");
  return openLogOnStick(join(stick.dir, systemChangesDir(stick.header.baseVersion)), key, base, changes.capacity);
}

/** A stick unlocked and served: what `stickvm serve` waits on, and what `stickvm run` starts the player against. */
export interface ServeSession {
  stick: OpenStick;
  /** This session's folder on the host (under the OS temp folder), wiped by close. */
  sessionDir: string;
  /** What the session made on the host, journaled on the stick; close wipes it. */
  residue: SessionResidue;
  exports: ServeReady["exports"];
  /** Where the server listens (a TCP port asked as 0 is the one bound). */
  address: NbdServer["address"];
  /** Stops the server, flushes and closes every layer, wipes what the session made on the host, releases the lock. */
  close: () => Promise<void>;
}

/**
 * Locks and unlocks the stick and serves `system` (volatile changes over the base), `user`
 * (the log on the stick, over the user template when the stick has one, else over zeros) and
 * `local` (host scratch) over NBD. Scratch keys live only in this process, so what the
 * session folder holds is unreadable even before close wipes it. Everything made on the host is
 * journaled on the stick first (SessionResidue); a dead session's leftovers are wiped once the
 * stick is unlocked. On a failure part way, what was opened is closed (and wiped) again before
 * the error is thrown.
 */
export async function openServeSession(o: Omit<ServeOptions, "signal" | "onReady" | "onStats">): Promise<ServeSession> {
  const lock = await lockStick(o.stick);
  const closers: (() => Promise<unknown>)[] = [() => lock.release()];
  const closeAll = async (): Promise<void> => {
    const errors: unknown[] = [];
    for (const close of closers.reverse()) await close().catch((err: unknown) => errors.push(err));
    closers.length = 0;
    if (errors.length > 0) throw errors[0];
  };
  try {
    const warn = (message: string): void => o.onWarning?.(message);
    const hostId = await stickHostId(o.stick);
    const journal = ResidueJournal.forHost(o.stick, hostId);
    const roots = hostWipeRoots({ env: process.env, platform: process.platform, home: homedir(), cacheDirs: [o.cacheDir] });
    const residue = new SessionResidue(journal, roots, o.wipePasses ?? DEFAULT_WIPE_PASSES);
    // after everything above it is closed, and before the lock is released
    closers.push(async () => {
      o.onWiped?.(await residue.finish(), "session");
    });
    const afterUnlock = async (policyBytes: Buffer | undefined): Promise<void> => {
      if (o.wipePasses === undefined) residue.passes = wipePassesPolicy(policyBytes) ?? residue.passes;
      // the signed policy's cache root is one of this host's roots too (an unsigned one never is)
      roots.cache.push(...[hostCachePolicy(policyBytes).dir].filter((d): d is string => d !== undefined));
      const stale = await wipeStale(journal, roots, residue.passes);
      if (stale.items.length > 0 || stale.journalProblems.length > 0) o.onWiped?.(stale, "stale");
      if (o.launcherCopy !== undefined) await residue.adopt("launcher-copy", o.launcherCopy);
    };
    const hostCache = {
      ...(o.cacheDir === undefined ? {} : { dir: o.cacheDir }),
      defaultDir: cacheDir(process.platform, process.env, homedir()),
      warn,
      residue,
      hostTrust: () => resolveHostTrust(o.stick, hostId, o.askTrust, warn),
    };
    const stick = await openStick(o.stick, o.unlock, { hostCache, bootProfile: o.bootProfile ?? {}, warn, afterUnlock });
    closers.push(() => stick.close());
    const listen = typeof o.listen === "function" ? await o.listen(residue) : o.listen;
    const sessionDir = await residue.makeFolder("session", tmpdir());

    const base = await systemBase(stick, sessionDir, residue.passes, warn);
    // the layers above close only themselves: the base's unpacked file (its handle and key) is closed here, after them
    closers.push(() => base.close());
    const system = await systemDevice(stick, base, sessionDir, residue.passes);
    closers.push(() => system.close());
    const userSize = stick.header.userDiskSize;
    const userLower = stick.userTemplate === undefined ? new ZeroDevice(userSize) : new BaseDevice(stick.userTemplate, { cacheBytes: TEMPLATE_CACHE_BYTES, what: "the user template" });
    const user = await openLogOnStick(join(o.stick, STICK_FILES.userDir), stick.secrets.userKey, userLower, userSize);
    closers.push(() => user.close());
    const local = await createScratchDevice({ dir: sessionDir, size: stick.header.localDiskSize, wipePasses: residue.passes });
    closers.push(() => local.close());

    const exports: NbdExports = new Map([
      ["system", { device: system, description: "the system disk: the signed base with the system changes" }],
      ["user", { device: user, description: "the user disk, kept on the stick" }],
      ["local", { device: local, description: "scratch for swap and caches, gone at exit" }],
    ]);
    if ("socket" in listen) await removeStaleSocket(listen.socket);
    const server = await startNbdServer({
      exports,
      listen,
      log: (level: "debug" | "warn", message: string) => {
        if (level === "warn") warn(message);
      },
    });
    closers.push(() => server.close());
    return {
      stick,
      sessionDir,
      residue,
      exports: [...exports].map(([name, e]) => ({ name, size: e.device.size, uri: server.uri(name) })),
      address: server.address,
      close: closeAll,
    };
  } catch (err) {
    await closeAll().catch(() => undefined);
    throw err;
  }
}

/** `stickvm serve`: serves the stick's three disks until the signal aborts, then closes the session. */
export async function serveStick(o: ServeOptions): Promise<void> {
  const session = await openServeSession(o);
  try {
    o.onReady?.({ exports: session.exports });
    if (!o.signal.aborted) await new Promise<void>((resolve) => { o.signal.addEventListener("abort", () => { resolve(); }, { once: true }); });
  } catch (err) {
    await session.close().catch(() => undefined);
    throw err;
  }
  await session.close();
  o.onStats?.(session.stick.stats());
}
