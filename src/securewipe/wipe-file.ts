import { randomBytes, randomFillSync } from "node:crypto";
import { lstat, open, readdir, rename, rmdir, unlink, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";

/** Overwrites in blocks of 1 MiB. */
const BLOCK = 1024 * 1024;

/** What wiping took away. */
export interface WipeCount {
  files: number;
  dirs: number;
  /** Bytes of file contents overwritten (once, whatever the passes). */
  bytes: number;
}

export function emptyCount(): WipeCount {
  return { files: 0, dirs: 0, bytes: 0 };
}

/** A byte range of a file that holds data. */
export interface Region {
  offset: number;
  length: number;
}

/** A random name in the same folder, so that the last name the folder saw says nothing. */
async function renameAway(path: string): Promise<string> {
  const away = join(dirname(path), `.wiped-${randomBytes(8).toString("hex")}`);
  await rename(path, away);
  return away;
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i += 8) if (b.readBigUInt64LE(i) !== 0n) return false;
  return true;
}

/**
 * Wipes one file: overwrites what holds data with random bytes `passes` times (each pass synced),
 * truncates it to nothing, syncs, renames it to a random name and unlinks it. Where the data is:
 * `regions` when the owner knows, else the whole file when it is not sparse, else every 1 MiB
 * block that does not read as zeros (a hole), until as many bytes as the file has allocated are
 * done. Anything that is not a regular file (a socket, a link) is only unlinked, never followed.
 * Returns the bytes overwritten; a file already gone is 0.
 */
export async function wipeFile(path: string, passes: number, regions?: Region[]): Promise<number> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
  if (!st.isFile()) {
    await unlink(path);
    return 0;
  }
  let done = 0;
  const fh = await open(path, "r+");
  try {
    // Windows reports no block count: take every byte as allocated
    const allocated = process.platform === "win32" ? st.size : st.blocks * 512;
    const targets = regions ?? (allocated >= st.size ? [{ offset: 0, length: st.size }] : await dataBlocks(fh, st.size, allocated));
    const noise = Buffer.allocUnsafe(BLOCK);
    for (let pass = 0; pass < passes; pass++) {
      for (const r of targets) {
        const end = Math.min(st.size, r.offset + r.length);
        for (let at = r.offset; at < end; at += BLOCK) {
          const n = Math.min(BLOCK, end - at);
          await fh.write(randomFillSync(noise, 0, n), 0, n, at);
          if (pass === 0) done += n;
        }
      }
      await fh.sync();
    }
    await fh.truncate(0);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await unlink(await renameAway(path));
  return done;
}

/** The 1 MiB blocks of a sparse file that hold anything but zeros, scanning until `allocated` bytes are found. */
async function dataBlocks(fh: FileHandle, size: number, allocated: number): Promise<Region[]> {
  const out: Region[] = [];
  const buf = Buffer.alloc(BLOCK);
  let found = 0;
  for (let at = 0; at < size && found < allocated; at += BLOCK) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(BLOCK, size - at), at);
    if (!isZero(buf.subarray(0, bytesRead - (bytesRead % 8)))) {
      out.push({ offset: at, length: bytesRead });
      found += bytesRead;
    }
  }
  return out;
}

/**
 * Wipes a folder of the launcher's own, bottom-up: files as wipeFile does, then each folder
 * renamed away and removed. Never follows a symbolic link (a link is unlinked, not entered).
 */
export async function wipeTree(path: string, passes: number, count: WipeCount = emptyCount()): Promise<WipeCount> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return count;
    throw err;
  }
  if (!st.isDirectory()) {
    count.bytes += await wipeFile(path, passes);
    count.files++;
    return count;
  }
  for (const name of await readdir(path)) await wipeTree(join(path, name), passes, count);
  await rmdir(await renameAway(path));
  count.dirs++;
  return count;
}
