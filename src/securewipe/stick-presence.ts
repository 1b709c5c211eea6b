import { stat } from "node:fs/promises";
import { join } from "node:path";
import { watch } from "chokidar";
import { STICK_FILES } from "../../stick-layout/format.js";

/** How often the sentinel is checked, and how long a check may hang before the stick counts as gone (a dead FUSE mount blocks). */
const CHECK_EVERY_MS = 500;
const CHECK_TIMEOUT_MS = 1_000;

export interface StickPresence {
  stop: () => Promise<void>;
}

interface Identity {
  folderDev: number;
  headerDev: number;
  headerIno: number;
}

async function identity(stickDir: string): Promise<Identity> {
  const folder = await stat(stickDir);
  const header = await stat(join(stickDir, STICK_FILES.header));
  return { folderDev: folder.dev, headerDev: header.dev, headerIno: header.ino };
}

/** Why the stick is not the one that was there, or undefined while it is. */
async function absence(stickDir: string, was: Identity): Promise<string | undefined> {
  let now: Identity;
  try {
    now = await identity(stickDir);
  } catch (err) {
    return `${join(stickDir, STICK_FILES.header)} cannot be found (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  // an unmounted stick leaves its mount point: same path, another device
  if (now.folderDev !== was.folderDev || now.headerDev !== was.headerDev || now.headerIno !== was.headerIno) return `${stickDir} is no longer the stick's file system`;
  return undefined;
}

/**
 * Watches that the stick stays: chokidar's events on the stick folder (a removed header or
 * folder is checked at once) and, since a pulled stick's mount point stays behind with nothing in
 * it, a check every 500 ms that the header is still the same file on the same device. A check
 * that hangs for a second (a FUSE mount whose device is gone) counts as gone too. `onGone` is
 * called once, within about 1.5 s of the stick going.
 */
export async function watchStickPresence(stickDir: string, onGone: (why: string) => void): Promise<StickPresence> {
  const was = await identity(stickDir);
  let gone = false;
  let checking = false;
  const check = async (): Promise<void> => {
    if (gone || checking) return;
    checking = true;
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<string>((resolve) => {
      timer = setTimeout(() => { resolve(`${stickDir} does not answer`); }, CHECK_TIMEOUT_MS);
    });
    const why = await Promise.race([absence(stickDir, was), hung]);
    clearTimeout(timer);
    checking = false;
    if (why !== undefined) {
      gone = true;
      onGone(why);
    }
  };
  const interval = setInterval(() => void check(), CHECK_EVERY_MS);
  interval.unref();
  const watcher = watch(stickDir, { depth: 0, ignoreInitial: true, persistent: false });
  watcher.on("all", (event) => {
    if (event === "unlink" || event === "unlinkDir") void check();
  });
  watcher.on("error", () => void check());
  return {
    stop: async () => {
      clearInterval(interval);
      await watcher.close();
    },
  };
}
