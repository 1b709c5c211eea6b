import { hostname } from "node:os";
import { open, readFile, rm, utimes, stat } from "node:fs/promises";
import { join } from "node:path";
import { StickvmError, fileError } from "../errors/errors.js";

export const LOCK_FILE = "stickvm.lock";
/** The holder touches the lock this often; a lock untouched for STALE_AFTER_MS is from a dead process. */
export const HEARTBEAT_MS = 5_000;
export const STALE_AFTER_MS = 30_000;

interface LockOwner {
  pid: number;
  host: string;
  startedMs: number;
}

export class StickBusyError extends StickvmError {
  constructor(owner: LockOwner) {
    super("USAGE", `the stick is in use by process ${owner.pid} on ${owner.host} since ${new Date(owner.startedMs).toISOString()}; stop it first`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Whether a lock file's owner is gone: on this host, its process no longer exists; on
 * another host (the stick moved), it stopped touching the file long ago.
 */
async function isStale(path: string): Promise<boolean> {
  let owner: LockOwner;
  try {
    owner = JSON.parse(await readFile(path, "utf8")) as LockOwner;
  } catch {
    // unreadable or torn: a crash while writing it; judge by its age alone
    return Date.now() - (await stat(path)).mtimeMs > STALE_AFTER_MS;
  }
  if (owner.host === hostname()) return !alive(owner.pid);
  return Date.now() - (await stat(path)).mtimeMs > STALE_AFTER_MS;
}

export interface StickLock {
  release(): Promise<void>;
}

/**
 * Takes the stick's lock (a file on the stick: FAT has no advisory locks that every OS
 * honours). A lock left by a crashed process is taken over; a live one is refused.
 */
export async function lockStick(stickDir: string): Promise<StickLock> {
  const path = join(stickDir, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, host: hostname(), startedMs: Date.now() };
  for (let attempt = 0; attempt < 2; attempt++) {
    let fh;
    try {
      fh = await open(path, "wx");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw fileError(err, "create", path);
      if (attempt === 0 && (await isStale(path))) {
        await rm(path, { force: true });
        continue;
      }
      const owner = JSON.parse(await readFile(path, "utf8").catch(() => "{}")) as Partial<LockOwner>;
      throw new StickBusyError({ pid: owner.pid ?? 0, host: owner.host ?? "unknown host", startedMs: owner.startedMs ?? 0 });
    }
    try {
      await fh.writeFile(JSON.stringify(me));
      await fh.sync();
    } finally {
      await fh.close();
    }
    const heartbeat = setInterval(() => {
      const now = new Date();
      utimes(path, now, now).catch(() => undefined);
    }, HEARTBEAT_MS);
    heartbeat.unref();
    return {
      release: async () => {
        clearInterval(heartbeat);
        await rm(path, { force: true });
      },
    };
  }
  throw new Error("unreachable: the stale lock was removed but could not be taken");
}
