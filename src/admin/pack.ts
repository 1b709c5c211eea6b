// make-stick pack: a whole stick as one encrypted 7z archive (FORMAT.md §31).
import { randomBytes } from "node:crypto";
import { lstat, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import Seven from "node-7z";
import { UNPACK_MARKER } from "../../stick-layout/format.js";
import { RESIDUE_DIR } from "../../stick-layout/residue-journal.js";
import { fileError, InterruptedError, NoSpaceError, StickvmError, UsageError } from "../errors/errors.js";
import { lockStick, LOCK_FILE } from "../serve/stick-lock.js";
import { syncFile, syncFolder } from "../util/durable-file.js";
import { checkArchivePassphrase } from "./archive-passphrase.js";
import { stickInfo } from "./info.js";
import { refuseExisting } from "./output-folder.js";
import { diskNearlyFull, runSevenZip } from "./seven-zip.js";

/**
 * Top-level entries of a stick folder that stay out of its archive: the lock of the pack itself,
 * the residue journals and host answers (they name folders on hosts the stick met, which mean
 * nothing on the recipient's hosts), and the marker of an unpack.
 */
export const LEFT_OUT_OF_ARCHIVE: readonly string[] = [LOCK_FILE, RESIDUE_DIR, UNPACK_MARKER];

/**
 * 7z with AES-256 and encrypted names (-mhe=on). Each file is a block of its own (-ms=off), so
 * unpack can take out stick.hdr alone, last, without decoding the rest again. Deflate at its
 * fastest level: pack files are compressed and encrypted already, and what does compress (the
 * user log's unwritten space, the players) is mostly zeros and code, which deflate handles.
 */
export const ARCHIVE_SWITCHES = ["-t7z", "-mhe=on", "-ms=off", "-m0=Deflate", "-mx=1"] as const;

export interface PackOptions {
  stick: string;
  /** The archive to write: a new file. */
  out: string;
  /** The archive passphrase (not the stick's). */
  passphrase: string;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface PackResult {
  files: number;
  bytes: number;
  archiveBytes: number;
}

function existing(out: string): () => StickvmError {
  return () => new StickvmError("OUTPUT_NOT_EMPTY", `${out} already exists; make-stick pack writes a new archive`);
}

/** The files under the top-level entries that go in, and their bytes. */
async function measure(stick: string, entries: string[]): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const entry of entries) {
    const top = await lstat(join(stick, entry));
    const inside = top.isDirectory() ? (await readdir(join(stick, entry), { recursive: true })).map((p) => join(entry, p)) : [];
    for (const path of [entry, ...inside]) {
      const s = path === entry ? top : await lstat(join(stick, path));
      if (s.isSymbolicLink()) throw new UsageError(`${join(stick, path)} is a symbolic link: a stick holds none (FAT has none), so this folder is not one to pack`);
      if (s.isFile()) {
        files += 1;
        bytes += s.size;
      }
    }
  }
  return { files, bytes };
}

/**
 * Writes the stick folder as one encrypted archive. The stick must be complete (what
 * `make-stick info` checks: header, key slots, signed manifests, index, packs present) and not in
 * use: its lock is held while it is read. The archive is written under a temporary name beside
 * `out`, synced, then renamed, so `out` is whole or absent.
 */
export async function packStick(o: PackOptions): Promise<PackResult> {
  checkArchivePassphrase(o.passphrase, true);
  await refuseExisting(o.out, existing(o.out));
  await stickInfo(o.stick);
  const lock = await lockStick(o.stick);
  // absolute: 7-Zip runs in the stick folder
  const partial = resolve(dirname(o.out), `.${basename(o.out)}.${randomBytes(6).toString("hex")}.partial.7z`);
  try {
    const entries = (await readdir(o.stick)).filter((e) => !LEFT_OUT_OF_ARCHIVE.includes(e)).sort();
    const { files, bytes } = await measure(o.stick, entries);
    const outcome = await runSevenZip({
      args: ["a", ...ARCHIVE_SWITCHES, "-p", "-bsp1", "-y", partial, "--", ...entries],
      parser: (opts) => Seven.add(partial, entries, opts),
      passphrase: o.passphrase,
      prompts: 2,
      cwd: o.stick,
      ...(o.onProgress === undefined ? {} : { onProgress: (percent: number) => o.onProgress?.(Math.round((bytes * percent) / 100), bytes) }),
      ...(o.signal === undefined ? {} : { signal: o.signal }),
    });
    if (outcome.aborted) throw new InterruptedError(`interrupted: ${o.out} was not written`);
    if (outcome.code !== 0) {
      if (await diskNearlyFull(dirname(o.out))) throw new NoSpaceError(o.out);
      throw new StickvmError("IO", `7-Zip could not write ${o.out} (exit code ${String(outcome.code)}): ${outcome.stderr.trim()}`);
    }
    // the archive's data is durable before its name appears, so `out` is never a short archive
    await syncFile(partial);
    const archiveBytes = (await stat(partial)).size;
    await refuseExisting(o.out, existing(o.out));
    await rename(partial, o.out).catch((err: unknown) => {
      throw fileError(err, "rename to", o.out);
    });
    await syncFolder(dirname(o.out));
    o.onProgress?.(bytes, bytes);
    return { files, bytes, archiveBytes };
  } finally {
    await rm(partial, { force: true });
    await lock.release();
  }
}
