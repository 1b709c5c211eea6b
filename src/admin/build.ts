import { randomBytes } from "node:crypto";
import { lstat, mkdir, readdir, readFile, rm, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { chunkSizeProblem, DEFAULT_PACK_LIMIT, MAX_MANIFEST_ENTRIES, FORMAT_VERSION, indexFileName, manifestFileName, MAX_PACK_LIMIT, SECTOR_BYTES, STICK_FILES, STICK_ID_BYTES } from "../../stick-layout/format.js";
import { encodeHeaderCopy, type StickHeader } from "../../stick-layout/header.js";
import { encodeKeySlots, makeSlot } from "../../stick-layout/keyslots.js";
import { encodeSignedManifest, entryCountFor, type Manifest } from "../../stick-layout/manifest.js";
import { formatRecoveryKey, RECOVERY_KEY_BYTES } from "../../stick-layout/recovery-key.js";
import { lineageIdFor, newStickSecrets, wipeSecrets } from "../../stick-layout/secrets.js";
import { ChunkPipeline } from "./chunk-pipeline.js";
import { DedupTable } from "./dedup-table.js";
import type { Batch } from "./chunk-worker.js";
import { maxRecordLength } from "../chunkstore/pack-reader.js";
import { PackWriter } from "../chunkstore/pack-writer.js";
import { PACK_HEADER_BYTES } from "../../stick-layout/pack.js";
import { sha256 } from "../crypto/hash.js";
import type { SigningKeyPair } from "../crypto/signing.js";
import { ARGON2_DEFAULT, argon2ParamsProblem, type Argon2Params } from "../crypto/kdf.js";
import { fileError, InterruptedError, StickvmError, UsageError } from "../errors/errors.js";
import { syncFolder, writeNewFileDurably } from "../util/durable-file.js";
import type { DiskFormat } from "./image-format.js";
import { openImage, type ImageSource } from "./image-source.js";
import { readSigningKey } from "./signing-key.js";

export interface BuildOptions {
  image: string;
  format?: DiskFormat;
  out: string;
  signingKey: string;
  passphrase: string;
  chunkSize: number;
  userSize: number;
  localSize: number;
  policy?: string;
  /** Sticks of one lineage share base keys, so one published update serves them all. */
  lineage: string;
  kdf: Argon2Params;
  /** zlib level for chunks, 1 (fast) to 9 (small). */
  compressionLevel: number;
  packLimit: number;
  threads: number;
  /** Where to write the recovery key (a new file, readable by its owner only); else it is only returned. */
  recoveryKeyFile?: string;
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
  signal?: AbortSignal;
}

export const BUILD_DEFAULTS = {
  lineage: "default",
  kdf: ARGON2_DEFAULT,
  compressionLevel: 3,
  packLimit: DEFAULT_PACK_LIMIT,
} as const;

export interface BuildResult {
  stickId: string;
  recoveryKey: string;
  imageBytes: number;
  chunkSize: number;
  chunks: { total: number; zero: number; unique: number; duplicate: number };
  /** Sealed chunk bytes written to packs. */
  storedBytes: number;
  packs: number;
}

const INTERRUPTED = "the build was interrupted; the partial stick was removed";

/** Chunks per batch sent to a worker: big enough to amortise the hand-off, small enough to bound memory. */
const BATCH_BYTES = 4 * 1024 * 1024;

function checkOptions(o: BuildOptions): void {
  const chunkProblem = chunkSizeProblem(o.chunkSize);
  if (chunkProblem !== undefined) throw new UsageError(chunkProblem);
  const kdfProblem = argon2ParamsProblem(o.kdf);
  if (kdfProblem !== undefined) throw new UsageError(kdfProblem);
  for (const [name, v] of [["user size", o.userSize], ["local size", o.localSize]] as const) {
    if (!Number.isSafeInteger(v) || v <= 0 || v % SECTOR_BYTES !== 0) throw new UsageError(`${name} must be a positive multiple of ${SECTOR_BYTES} bytes`);
  }
  if (!Number.isInteger(o.compressionLevel) || o.compressionLevel < 1 || o.compressionLevel > 9) throw new UsageError("compression level must be 1..9");
  const minPack = Math.max(1024 * 1024, PACK_HEADER_BYTES + maxRecordLength(o.chunkSize));
  if (!Number.isInteger(o.packLimit) || o.packLimit < minPack || o.packLimit > MAX_PACK_LIMIT) {
    throw new UsageError(`pack size limit must be from ${minPack} bytes (one chunk) to ${MAX_PACK_LIMIT} bytes`);
  }
  if (!Number.isInteger(o.threads) || o.threads < 1 || o.threads > 64) throw new UsageError("threads must be 1..64");
  if (o.passphrase.length === 0) throw new UsageError("the passphrase is empty");
}

/** Fails now, before the long part of the build, if `path` cannot be created later (it exists, or is not reachable). */
async function checkNewFile(path: string): Promise<void> {
  try {
    await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw fileError(err, "check", path);
  }
  throw new UsageError(`${path} already exists; the recovery key goes into a new file`);
}

/** Creates the output folder, or accepts an existing empty one; returns whether it was created. */
async function prepareOutput(out: string): Promise<boolean> {
  let entries: string[];
  try {
    entries = await readdir(out);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      await mkdir(out, { recursive: true }).catch((e: unknown) => {
        throw fileError(e, "create", out);
      });
      return true;
    }
    if (code === "ENOTDIR") throw new StickvmError("OUTPUT_NOT_EMPTY", `${out} is a file; the stick must be a new or empty folder`);
    throw fileError(err, "read", out);
  }
  if (entries.length > 0) {
    throw new StickvmError("OUTPUT_NOT_EMPTY", `${out} is not empty (${entries.length} entries); make-stick build writes only into a new or empty folder`);
  }
  return false;
}

/** Removes what a failed build wrote: everything in the folder (it was empty), and the folder if the build made it. */
async function removePartialStick(out: string, created: boolean): Promise<void> {
  const entries = await readdir(out).catch(() => []);
  await Promise.all(entries.map((e) => rm(join(out, e), { recursive: true, force: true })));
  if (created) await rmdir(out).catch(() => undefined);
}

async function readPolicy(path: string | undefined): Promise<Buffer | undefined> {
  if (path === undefined) return undefined;
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw fileError(err, "read policy", path);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(buf.toString("utf8"));
  } catch (err) {
    throw new UsageError(`policy ${path} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new UsageError(`policy ${path} must be a JSON object`);
  return buf;
}

/**
 * Builds a stick folder from a disk image (FORMAT.md "Writing a stick"). Packs, index,
 * manifest, policy and key slots are written and synced first; the header last, so a stick
 * without a valid header is an unfinished build. On any failure the folder is emptied again.
 */
export async function buildStick(o: BuildOptions): Promise<BuildResult> {
  checkOptions(o);
  if (o.recoveryKeyFile !== undefined) await checkNewFile(o.recoveryKeyFile);
  const signing = await readSigningKey(o.signingKey);
  try {
    const policy = await readPolicy(o.policy);
    const source = await openImage(o.image, o.format);
    try {
      if (entryCountFor(source.size, o.chunkSize) > MAX_MANIFEST_ENTRIES) {
        throw new UsageError(`a ${source.size}-byte image needs more than ${MAX_MANIFEST_ENTRIES} chunks of ${o.chunkSize} bytes; use a larger --chunk-size`);
      }
      const created = await prepareOutput(o.out);
      return await writeStick(o, source, signing, policy, created);
    } finally {
      await source.close();
    }
  } finally {
    signing.seed.fill(0);
  }
}

/** Writes the stick into the prepared, empty folder; on failure, empties it again. */
async function writeStick(
  o: BuildOptions,
  source: ImageSource,
  signing: SigningKeyPair,
  policy: Buffer | undefined,
  created: boolean,
): Promise<BuildResult> {
  const lineageId = lineageIdFor(signing.publicKey, o.lineage);
  const secrets = newStickSecrets(signing.seed, lineageId);
  let wroteRecoveryFile = false;
  try {
    const stickId = randomBytes(STICK_ID_BYTES);
    const createdMs = Date.now();
    await mkdir(join(o.out, STICK_FILES.baseDir));
    await mkdir(join(o.out, STICK_FILES.chunksDir));
    const packs = new PackWriter(o.out, 0, o.packLimit, maxRecordLength(o.chunkSize));
    let stats;
    try {
      stats = await writeChunks(source, packs, secrets, o);
      await packs.finish();
    } catch (err) {
      await packs.abandon();
      throw err;
    }
    await writeNewFileDurably(join(o.out, indexFileName(1)), packs.index.encode(packs.packCount));

    const manifest: Manifest = {
      baseVersion: 1,
      lineageId,
      diskSize: source.size,
      chunkSize: o.chunkSize,
      createdMs,
      signerPublicKey: signing.publicKey,
      entries: stats.entries,
    };
    const manifestBytes = encodeSignedManifest(manifest, signing);
    await writeNewFileDurably(join(o.out, manifestFileName(1)), manifestBytes);
    if (policy) await writeNewFileDurably(join(o.out, STICK_FILES.policy), policy);

    const recoveryKey = randomBytes(RECOVERY_KEY_BYTES);
    const slots = [
      await makeSlot(stickId, secrets, { passphrase: o.passphrase, kdf: o.kdf }),
      await makeSlot(stickId, secrets, { recoveryKey }),
    ];
    await writeNewFileDurably(join(o.out, STICK_FILES.keyslots), encodeKeySlots({ stickId, slots }));
    const recoveryText = formatRecoveryKey(recoveryKey);
    recoveryKey.fill(0);
    if (o.recoveryKeyFile !== undefined) {
      await writeNewFileDurably(o.recoveryKeyFile, `${recoveryText}\n`, 0o600);
      wroteRecoveryFile = true;
    }

    const header: StickHeader = {
      formatVersion: FORMAT_VERSION,
      sequence: 1,
      stickId,
      lineageId,
      adminPublicKey: signing.publicKey,
      policyDigest: policy ? sha256(policy) : Buffer.alloc(32),
      baseVersion: 1,
      userDiskSize: o.userSize,
      localDiskSize: o.localSize,
      createdMs,
      manifestDigest: sha256(manifestBytes),
    };
    await syncFolder(join(o.out, STICK_FILES.baseDir));
    await syncFolder(join(o.out, STICK_FILES.chunksDir));
    await syncFolder(o.out);
    // the last moment a Ctrl-C can still undo the build: after the header, the stick is done
    if (o.signal?.aborted) throw new InterruptedError(INTERRUPTED);
    const copy = encodeHeaderCopy(header, secrets.headerMacKey);
    await writeNewFileDurably(join(o.out, STICK_FILES.header), Buffer.concat([copy, copy]));
    await syncFolder(o.out);
    return {
      stickId: stickId.toString("hex"),
      recoveryKey: recoveryText,
      imageBytes: source.size,
      chunkSize: o.chunkSize,
      chunks: stats.counts,
      storedBytes: packs.storedBytes,
      packs: packs.packCount,
    };
  } catch (err) {
    await removePartialStick(o.out, created);
    if (wroteRecoveryFile && o.recoveryKeyFile !== undefined) await rm(o.recoveryKeyFile, { force: true });
    throw err;
  } finally {
    wipeSecrets(secrets);
  }
}

interface ChunkStats {
  entries: Buffer;
  counts: BuildResult["chunks"];
}

/** Reads the image batch by batch, encodes in workers, and stores each new chunk once, in image order. */
async function writeChunks(
  source: ImageSource,
  packs: PackWriter,
  secrets: { baseKey: Buffer; chunkIdKey: Buffer },
  o: BuildOptions,
): Promise<ChunkStats> {
  const { chunkSize } = o;
  const total = entryCountFor(source.size, chunkSize);
  const entries = Buffer.alloc(total * 32);
  const counts = { total, zero: 0, unique: 0, duplicate: 0 };
  const seen = new DedupTable(packs.index);
  const batchBytes = Math.max(chunkSize, BATCH_BYTES - (BATCH_BYTES % chunkSize));
  // two batches per thread keep every worker busy while the main thread reads and writes
  const depth = o.threads * 2;
  const pipeline = new ChunkPipeline(
    { baseKey: secrets.baseKey, chunkIdKey: secrets.chunkIdKey, chunkSize, level: o.compressionLevel },
    o.threads,
    batchBytes,
    depth,
  );
  const inFlight: Promise<Batch>[] = [];
  let readPos = 0;
  let chunkIndex = 0;

  const consume = async (): Promise<void> => {
    const head = inFlight.shift();
    if (head === undefined) return;
    const batch = await head;
    const ids = Buffer.from(batch.ids);
    const sealed = Buffer.from(batch.sealed);
    let at = 0;
    for (const [i, len] of batch.sealedLengths.entries()) {
      const index = chunkIndex++;
      if (len === 0) {
        counts.zero += 1;
        continue;
      }
      const id = ids.subarray(i * 32, (i + 1) * 32);
      id.copy(entries, index * 32);
      const body = sealed.subarray(at, at + len);
      at += len;
      if (seen.find(id) !== undefined) {
        counts.duplicate += 1;
        continue;
      }
      seen.add(id, await packs.append(id, body));
      counts.unique += 1;
    }
    pipeline.release(batch); // append copied what it needs
    o.onProgress?.(Math.min(chunkIndex * chunkSize, source.size), source.size);
  };

  try {
    while (readPos < source.size) {
      if (o.signal?.aborted) throw new InterruptedError(INTERRUPTED);
      let batch = pipeline.take();
      while (batch === undefined) {
        await consume();
        batch = pipeline.take();
      }
      const length = Math.min(batchBytes, source.size - readPos);
      const whole = Math.ceil(length / chunkSize) * chunkSize;
      const input = Buffer.from(batch.input);
      await source.read(readPos, input.subarray(0, length));
      input.fill(0, length, whole); // the image's tail is zero-padded to a whole chunk
      batch.length = whole;
      inFlight.push(pipeline.submit(batch));
      readPos += length;
    }
    while (inFlight.length > 0) {
      if (o.signal?.aborted) throw new InterruptedError(INTERRUPTED);
      await consume();
    }
  } catch (err) {
    // let outstanding batches settle so no rejection goes unhandled
    await Promise.allSettled(inFlight);
    throw err;
  } finally {
    await pipeline.close();
  }
  return { entries, counts };
}
