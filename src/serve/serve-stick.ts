import { mkdtemp, rm } from "node:fs/promises";
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
import { hkdf32 } from "../crypto/kdf.js";
import { STICK_FILES } from "../../stick-layout/format.js";

/** Decoded chunks of the user template kept in memory: the user log above it holds what the guest changed. */
const TEMPLATE_CACHE_BYTES = 16 * 1024 * 1024;
/** Decoded base chunks kept in memory: the unpacked file serves any chunk read again once it is stored. */
const SYSTEM_CACHE_BYTES = 8 * 1024 * 1024;

export interface ServeOptions {
  stick: string;
  unlock: Unlock;
  listen: { socket: string } | { port: number };
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
}

export interface ServeReady {
  exports: { name: string; size: number; uri: string }[];
}

/** Persistent system changes belong to one base version: a base update starts a new folder. */
export function systemChangesDir(baseVersion: number): string {
  return `system-changes-${baseVersion.toString().padStart(8, "0")}`;
}

/** The base layer of the system disk, with this session's unpacked file in the session folder. */
async function systemBase(stick: OpenStick, sessionDir: string, warn: (message: string) => void): Promise<BaseDevice> {
  const unpacked = await UnpackedCache.create({ dir: sessionDir, size: stick.base.size, chunkSize: stick.manifest.chunkSize, warn });
  return new BaseDevice(stick.base, { cacheBytes: SYSTEM_CACHE_BYTES, unpacked });
}

/** The system disk: the base with this session's changes (volatile) or the stick's (persistent). Closing it leaves `base` open. */
async function systemDevice(stick: OpenStick, base: BaseDevice, sessionDir: string): Promise<BlockDevice> {
  const changes = systemChangesPolicy(stick.policyBytes, base.size);
  if (changes.mode === "volatile") return new OverlayDevice(base, await EncryptedBlockFile.create(sessionDir, "system"));
  // a key of its own for the system-changes log, derived from the user key
  const key = hkdf32(stick.secrets.userKey, stick.header.stickId, "stickvm system changes v1");
  return openLogOnStick(join(stick.dir, systemChangesDir(stick.header.baseVersion)), key, base, changes.capacity);
}

/** A stick unlocked and served: what `stickvm serve` waits on, and what `stickvm run` starts the player against. */
export interface ServeSession {
  stick: OpenStick;
  /** This session's folder on the host (under the OS temp folder), removed by close. */
  sessionDir: string;
  exports: ServeReady["exports"];
  /** Where the server listens (a TCP port asked as 0 is the one bound). */
  address: NbdServer["address"];
  /** Stops the server, flushes and closes every layer, removes the session folder, releases the lock. */
  close: () => Promise<void>;
}

/**
 * Locks and unlocks the stick and serves `system` (volatile changes over the base), `user`
 * (the log on the stick, over the user template when the stick has one, else over zeros) and
 * `local` (host scratch) over NBD. Scratch keys live only in this process, so what the
 * session folder holds is unreadable even before close removes it. On a failure part way,
 * what was opened is closed again before the error is thrown.
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
    const hostCache = {
      ...(o.cacheDir === undefined ? {} : { dir: o.cacheDir }),
      defaultDir: cacheDir(process.platform, process.env, homedir()),
      warn: (message: string) => o.onWarning?.(message),
    };
    const stick = await openStick(o.stick, o.unlock, { hostCache, bootProfile: o.bootProfile ?? {}, warn: hostCache.warn });
    closers.push(() => stick.close());
    const sessionDir = await mkdtemp(join(tmpdir(), "stickvm-session-"));
    closers.push(() => rm(sessionDir, { recursive: true, force: true }));

    const base = await systemBase(stick, sessionDir, (message) => o.onWarning?.(message));
    // the layers above close only themselves: the base's unpacked file (its handle and key) is closed here, after them
    closers.push(() => base.close());
    const system = await systemDevice(stick, base, sessionDir);
    closers.push(() => system.close());
    const userSize = stick.header.userDiskSize;
    const userLower = stick.userTemplate === undefined ? new ZeroDevice(userSize) : new BaseDevice(stick.userTemplate, { cacheBytes: TEMPLATE_CACHE_BYTES, what: "the user template" });
    const user = await openLogOnStick(join(o.stick, STICK_FILES.userDir), stick.secrets.userKey, userLower, userSize);
    closers.push(() => user.close());
    const local = await createScratchDevice({ dir: sessionDir, size: stick.header.localDiskSize });
    closers.push(() => local.close());

    const exports: NbdExports = new Map([
      ["system", { device: system, description: "the system disk: the signed base with the system changes" }],
      ["user", { device: user, description: "the user disk, kept on the stick" }],
      ["local", { device: local, description: "scratch for swap and caches, gone at exit" }],
    ]);
    if ("socket" in o.listen) await removeStaleSocket(o.listen.socket);
    const warn = o.onWarning;
    const server = await startNbdServer({
      exports,
      listen: o.listen,
      ...(warn ? { log: (level: "debug" | "warn", message: string) => { if (level === "warn") warn(message); } } : {}),
    });
    closers.push(() => server.close());
    return {
      stick,
      sessionDir,
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
