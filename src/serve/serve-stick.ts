import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStick } from "../chunkstore/open-stick.js";
import type { Unlock } from "../chunkstore/stick-files.js";
import { fileError } from "../errors/errors.js";
import { BaseDevice } from "../layers/base-device.js";
import type { BlockDevice } from "../layers/block-device.js";
import { EncryptedBlockFile } from "../layers/encrypted-block-file.js";
import { createLogDevice, openLogDevice } from "../layers/log/log.js";
import { createScratchDevice, OverlayDevice } from "../layers/overlay-device.js";
import { ZeroDevice } from "../layers/zero-device.js";
import { startNbdServer, type NbdExports } from "../nbd/server.js";
import { removeStaleSocket } from "./stale-socket.js";
import { lockStick } from "./stick-lock.js";

/** The user disk's log folder on the stick (FORMAT.md "User log"). */
export const USER_LOG_DIR = "user";

export interface ServeOptions {
  stick: string;
  unlock: Unlock;
  listen: { socket: string } | { port: number };
  /** Resolves the session: serving stops when it aborts (SIGINT, SIGTERM). */
  signal: AbortSignal;
  onReady?: (info: ServeReady) => void;
}

export interface ServeReady {
  exports: { name: string; size: number; uri: string }[];
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw fileError(err, "check", path);
  }
}

/** The user disk: the log on the stick, made on first use. */
async function userDevice(stickDir: string, key: Buffer, size: number): Promise<BlockDevice> {
  const dir = join(stickDir, USER_LOG_DIR);
  const lower = new ZeroDevice(size);
  if (await exists(join(dir, "superblock.bin"))) return openLogDevice({ dir, key, lower });
  return createLogDevice({ dir, key, size, lower });
}

/**
 * `stickvm serve`: lock and unlock the stick, serve `system` (volatile changes over the
 * base), `user` (the log on the stick) and `local` (host scratch) over NBD until the signal
 * aborts; then stop the server, flush and close every layer, and remove the session's host
 * folder. Scratch keys live only in this process, so what the folder held is unreadable
 * even before it is removed.
 */
export async function serveStick(o: ServeOptions): Promise<void> {
  const lock = await lockStick(o.stick);
  const closers: (() => Promise<unknown>)[] = [() => lock.release()];
  const closeAll = async (): Promise<void> => {
    const errors: unknown[] = [];
    for (const close of closers.reverse()) await close().catch((err: unknown) => errors.push(err));
    if (errors.length > 0) throw errors[0];
  };
  try {
    const stick = await openStick(o.stick, o.unlock);
    closers.push(() => stick.close());
    const sessionDir = await mkdtemp(join(tmpdir(), "stickvm-session-"));
    closers.push(() => rm(sessionDir, { recursive: true, force: true }));

    const system = new OverlayDevice(new BaseDevice(stick.base), await EncryptedBlockFile.create(sessionDir, "system"));
    closers.push(() => system.close());
    const user = await userDevice(o.stick, stick.secrets.userKey, stick.header.userDiskSize);
    closers.push(() => user.close());
    const local = await createScratchDevice({ dir: sessionDir, size: stick.header.localDiskSize });
    closers.push(() => local.close());

    const exports: NbdExports = new Map([
      ["system", { device: system, description: "the system disk: the signed base with this session's changes" }],
      ["user", { device: user, description: "the user disk, kept on the stick" }],
      ["local", { device: local, description: "scratch for swap and caches, gone at exit" }],
    ]);
    if ("socket" in o.listen) await removeStaleSocket(o.listen.socket);
    const server = await startNbdServer({ exports, listen: o.listen });
    closers.push(() => server.close());
    o.onReady?.({ exports: [...exports].map(([name, e]) => ({ name, size: e.device.size, uri: server.uri(name) })) });
    if (!o.signal.aborted) await new Promise<void>((resolve) => { o.signal.addEventListener("abort", () => { resolve(); }, { once: true }); });
  } catch (err) {
    await closeAll().catch(() => undefined);
    throw err;
  }
  await closeAll();
}
