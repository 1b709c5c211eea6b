// make-stick unpack: a stick archive (FORMAT.md §31) onto a new or empty folder, header last.
import { readdir, rm, stat, statfs } from "node:fs/promises";
import { isAbsolute, join, normalize, resolve, sep } from "node:path";
import Seven from "node-7z";
import { STICK_FILES, UNPACK_MARKER } from "../../stick-layout/format.js";
import { BadArchiveError, fileError, InterruptedError, NoSpaceError, StickvmError, UsageError, WrongArchivePassphraseError } from "../errors/errors.js";
import { syncFile, syncFolder, writeNewFileDurably } from "../util/durable-file.js";
import { checkArchivePassphrase } from "./archive-passphrase.js";
import { stickInfo, type StickInfo } from "./info.js";
import { prepareOutput, removePartialStick } from "./output-folder.js";
import { diskNearlyFull, runSevenZip, type SevenZipOutcome, type SevenZipRun } from "./seven-zip.js";

/** What the marker says to a person who finds it on a stick. */
const MARKER_TEXT =
  "make-stick unpack is writing this stick, or was interrupted while it did.\n" +
  "If there is no stick.hdr beside this file, the stick is unfinished: empty the folder and unpack again.\n";

/** Room kept per file beyond its bytes: a FAT32 or exFAT cluster is at most 32 KiB and 32 MiB, and a stick's files are few. */
const SLACK_PER_FILE = 64 * 1024;

export interface UnpackOptions {
  archive: string;
  /** A new or empty folder: the stick. */
  out: string;
  /** The archive passphrase. */
  passphrase: string;
  onStatus?: (message: string) => void;
  onProgress?: (step: "checking" | "unpacking", done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface UnpackResult {
  files: number;
  bytes: number;
  /** What `make-stick info` says of the unpacked stick (no passphrase needed). */
  info: StickInfo;
}

interface ArchiveEntry {
  path: string;
  size: number;
  isDir: boolean;
}

/** 7-Zip's failure, as a typed error: its messages are the only way it tells them apart. */
function sevenZipFailure(archive: string, outcome: SevenZipOutcome): StickvmError {
  const said = outcome.stderr.replace(/\s+/g, " ").trim();
  if (/Can not open encrypted archive/i.test(said)) return new WrongArchivePassphraseError(archive);
  if (/Unexpected end|Can ?not open the file as|Headers Error|CRC Failed|Data Error|Is not archive/i.test(said)) {
    return new BadArchiveError(`${archive} is truncated or damaged (7-Zip: ${said}); nothing of it can be trusted: get the archive again`);
  }
  return new StickvmError("IO", `7-Zip failed on ${archive} (exit code ${String(outcome.code)}): ${said}`);
}

/** Runs 7za and turns an abort or a failure into its typed error. */
async function sevenZip(archive: string, run: SevenZipRun, interrupted: string): Promise<void> {
  const outcome = await runSevenZip(run);
  if (outcome.aborted) throw new InterruptedError(interrupted);
  if (outcome.code !== 0) throw sevenZipFailure(archive, outcome);
}

/** The archive's table of contents, checked to be a stick's: stick.hdr at the top, every path inside the folder. */
async function listArchive(o: UnpackOptions): Promise<ArchiveEntry[]> {
  const entries: ArchiveEntry[] = [];
  await sevenZip(
    o.archive,
    {
      args: ["l", "-y", o.archive],
      parser: (opts) => Seven.list(o.archive, opts),
      passphrase: o.passphrase,
      prompts: 1,
      onEntry: (d) => entries.push({ path: d.file, size: d.size ?? 0, isDir: d.attributes?.startsWith("D") ?? false }),
      ...(o.signal === undefined ? {} : { signal: o.signal }),
    },
    "interrupted: nothing was written",
  );
  for (const e of entries) {
    const n = normalize(e.path);
    if (isAbsolute(e.path) || n === ".." || n.startsWith(`..${sep}`)) throw new BadArchiveError(`${o.archive} names ${e.path}, outside the folder it unpacks to: it is not a stick archive`);
  }
  if (!entries.some((e) => e.path === STICK_FILES.header && !e.isDir)) {
    throw new BadArchiveError(`${o.archive} holds no ${STICK_FILES.header} at its top: it is not a stick archive (make-stick pack writes those)`);
  }
  return entries;
}

/** Refuses before writing when the folder's file system cannot hold the stick. */
async function checkRoom(out: string, files: number, bytes: number): Promise<void> {
  const s = await statfs(out).catch((err: unknown) => {
    throw fileError(err, "read", out);
  });
  const free = s.bavail * s.bsize;
  const need = bytes + files * SLACK_PER_FILE;
  if (free < need) {
    throw new NoSpaceError(`${out} (the stick needs about ${need} bytes, there are ${free} free); nothing was written`);
  }
}

/** fsyncs every file, then every folder deepest first, so that what is there survives a power cut before the header exists. */
async function syncTree(root: string): Promise<void> {
  const folders = [root];
  for (const rel of await readdir(root, { recursive: true })) {
    const path = join(root, rel);
    if ((await stat(path)).isDirectory()) {
      folders.push(path);
      continue;
    }
    await syncFile(path);
  }
  folders.sort((a, b) => b.length - a.length);
  for (const f of folders) await syncFolder(f);
}

/**
 * Checks the archive whole (7-Zip's test: every file's CRC, which also proves the passphrase)
 * before writing anything; then writes a marker, every file but the header, syncs them, writes
 * the header, syncs it and removes the marker. The header is a stick's commit point (FORMAT.md
 * §14), so a crash at any step leaves a folder that readers name as an unfinished unpack.
 * Ends with `make-stick info`'s checks of the new stick; the full check needs its passphrase.
 */
export async function unpackStick(options: UnpackOptions): Promise<UnpackResult> {
  // absolute, so that no path can pass for one of 7za's switches (they start with "-")
  const o = { ...options, archive: resolve(options.archive), out: resolve(options.out) };
  checkArchivePassphrase(o.passphrase, false);
  const archiveBytes = await stat(o.archive).then(
    (s) => {
      if (!s.isFile()) throw new UsageError(`${o.archive} is not a file`);
      return s.size;
    },
    (err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new UsageError(`no archive at ${o.archive}`);
      throw fileError(err, "read", o.archive);
    },
  );
  const created = await prepareOutput(o.out, "make-stick unpack");
  let finished = false;
  try {
    const entries = await listArchive(o);
    const files = entries.filter((e) => !e.isDir);
    const bytes = files.reduce((sum, e) => sum + e.size, 0);
    await checkRoom(o.out, files.length, bytes);

    o.onStatus?.(`checking ${o.archive}`);
    await sevenZip(
      o.archive,
      {
        args: ["t", "-bsp1", "-y", o.archive],
        parser: (opts) => Seven.test(o.archive, opts),
        passphrase: o.passphrase,
        prompts: 1,
        onProgress: (percent) => o.onProgress?.("checking", Math.round((archiveBytes * percent) / 100), archiveBytes),
        ...(o.signal === undefined ? {} : { signal: o.signal }),
      },
      "interrupted: nothing was written",
    );

    o.onStatus?.(`unpacking to ${o.out}`);
    await writeNewFileDurably(join(o.out, UNPACK_MARKER), MARKER_TEXT);
    await syncFolder(o.out);
    const extract = (only: string[], exclude: string[], signal?: AbortSignal, onProgress?: (percent: number) => void): Promise<void> =>
      sevenZip(
        o.archive,
        {
          args: ["x", "-bsp1", "-y", `-o${o.out}`, ...exclude.map((e) => `-x!${e}`), o.archive, ...only],
          parser: (opts) => Seven.extractFull(o.archive, o.out, opts),
          passphrase: o.passphrase,
          prompts: 1,
          ...(onProgress === undefined ? {} : { onProgress }),
          ...(signal === undefined ? {} : { signal }),
        },
        `interrupted: the partial stick in ${o.out} was removed`,
      );
    await extract([], [STICK_FILES.header], o.signal, (percent) => o.onProgress?.("unpacking", Math.round((bytes * percent) / 100), bytes));
    await syncTree(o.out);
    // the last moment an interrupt can undo the unpack: the header comes next, and with it the stick is whole
    if (o.signal?.aborted === true) throw new InterruptedError(`interrupted: the partial stick in ${o.out} was removed`);
    await extract([STICK_FILES.header], []);
    await syncFile(join(o.out, STICK_FILES.header));
    await syncFolder(o.out);
    finished = true;
    await rm(join(o.out, UNPACK_MARKER));
    await syncFolder(o.out);
    o.onProgress?.("unpacking", bytes, bytes);
    return { files: files.length, bytes, info: await stickInfo(o.out) };
  } catch (err) {
    if (!finished) {
      const full = err instanceof StickvmError && err.code === "IO" && (await diskNearlyFull(o.out));
      await removePartialStick(o.out, created);
      if (full) throw new NoSpaceError(o.out);
    }
    throw err;
  }
}
