import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { encodeSignedBootManifest } from "../../stick-layout/boot-manifest.js";
import {
  bootManifestFileName,
  chunkSizeProblem,
  DEFAULT_PACK_LIMIT,
  indexFileName,
  manifestFileName,
  MAX_MANIFEST_ENTRIES,
  MAX_PACK_LIMIT,
  SECTOR_BYTES,
  STICK_FILES,
  STICK_ID_BYTES,
  USER_TEMPLATE_BASE_VERSION,
} from "../../stick-layout/format.js";
import { encodeHeaderCopy, formatVersionFor, type StickHeader } from "../../stick-layout/header.js";
import { encodeKeySlots, makeSlot } from "../../stick-layout/keyslots.js";
import { encodeSignedManifest, entryCountFor, type Manifest } from "../../stick-layout/manifest.js";
import { formatRecoveryKey, RECOVERY_KEY_BYTES } from "../../stick-layout/recovery-key.js";
import { lineageIdFor, newStickSecrets, wipeSecrets } from "../../stick-layout/secrets.js";
import { maxRecordLength } from "../chunkstore/pack-reader.js";
import { PackWriter } from "../chunkstore/pack-writer.js";
import { makeLogOnStick } from "../layers/log-on-stick.js";
import { findLaunchers, writeLaunchers } from "./stick-launchers.js";
import { writeStaticFiles } from "./stick-static.js";
import { prepareOutput, refuseExisting, removePartialStick } from "./output-folder.js";
import { PACK_HEADER_BYTES } from "../../stick-layout/pack.js";
import { sha256 } from "../crypto/hash.js";
import type { SigningKeyPair } from "../crypto/signing.js";
import { ARGON2_DEFAULT, argon2ParamsProblem, type Argon2Params } from "../crypto/kdf.js";
import { CorruptStickError, fileError, InterruptedError, UsageError } from "../errors/errors.js";
import { validatePolicy } from "../policy/policy-schema.js";
import { syncFolder, writeNewFileDurably } from "../util/durable-file.js";
import type { DiskFormat } from "./image-format.js";
import { openImage, type ImageSource } from "./image-source.js";
import { readSigningKey } from "./signing-key.js";
import { writeDisks, type ChunkCounts, type DiskChunks } from "./write-chunks.js";
import { bootOptionsProblem, openBootFiles, type BootFileSource, type BootOptions } from "./boot-input.js";
import { planHostBundle, writeBundle, type BundlePlan, type PlayerSpec } from "../player/bundle.js";

export interface BuildOptions {
  image: string;
  format?: DiskFormat;
  out: string;
  signingKey: string;
  passphrase: string;
  chunkSize: number;
  /** The user disk's size; without a user image, DEFAULT_USER_SIZE. With one, it must be left out or equal the image's size. */
  userSize?: number;
  /** A template for the user disk (for example a pre-formatted profile disk): the user log starts over it. */
  userImage?: string;
  userImageFormat?: DiskFormat;
  localSize: number;
  policy?: string;
  /** Sticks of one lineage share base keys, so one published update serves them all. */
  lineage: string;
  kdf: Argon2Params;
  /** zlib level for chunks, 1 (fast) to 9 (small). */
  compressionLevel: number;
  packLimit: number;
  threads: number;
  /** A kernel, initrd and command line for direct kernel boot (format version 3, FORMAT.md §23). */
  boot?: BootOptions;
  /** Players to put on the stick (`--player linux-x64=host`), FORMAT.md §22. */
  players?: PlayerSpec[];
  /** A folder holding launcher executables (dist/exe from `npm run build:exe`) to copy to the stick's root. */
  launchers?: string;
  /** Where to write the recovery key (a new file, readable by its owner only); else it is only returned. */
  recoveryKeyFile?: string;
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
  signal?: AbortSignal;
}

export const DEFAULT_USER_SIZE = 4 * 1024 * 1024 * 1024;

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
  chunks: ChunkCounts;
  userDiskSize: number;
  /** The user template's chunks (stored ones that the base already held count as duplicates). */
  userTemplate?: { imageBytes: number; chunks: ChunkCounts };
  /** The launcher executables copied to the stick's root. */
  launchers: string[];
  /** The boot files' chunks (stored ones that a disk already held count as duplicates). */
  boot?: { kernel: { bytes: number; chunks: ChunkCounts }; initrd: { bytes: number; chunks: ChunkCounts }; append: string };
  /** The players written, with their files' total size. */
  players: { target: string; files: number; bytes: number }[];
  /** Sealed chunk bytes written to packs. */
  storedBytes: number;
  packs: number;
}

const INTERRUPTED = "the build was interrupted; the partial stick was removed";

function checkOptions(o: BuildOptions): void {
  const chunkProblem = chunkSizeProblem(o.chunkSize);
  if (chunkProblem !== undefined) throw new UsageError(chunkProblem);
  const kdfProblem = argon2ParamsProblem(o.kdf);
  if (kdfProblem !== undefined) throw new UsageError(kdfProblem);
  for (const [name, v] of [["user size", o.userSize], ["local size", o.localSize]] as const) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v <= 0 || v % SECTOR_BYTES !== 0)) throw new UsageError(`${name} must be a positive multiple of ${SECTOR_BYTES} bytes`);
  }
  if (o.userImageFormat !== undefined && o.userImage === undefined) throw new UsageError("a user image format was given without a user image (--user-image)");
  const bootProblem = o.boot && bootOptionsProblem(o.boot);
  if (bootProblem !== undefined) throw new UsageError(bootProblem);
  if (!Number.isInteger(o.compressionLevel) || o.compressionLevel < 1 || o.compressionLevel > 9) throw new UsageError("compression level must be 1..9");
  const minPack = Math.max(1024 * 1024, PACK_HEADER_BYTES + maxRecordLength(o.chunkSize));
  if (!Number.isInteger(o.packLimit) || o.packLimit < minPack || o.packLimit > MAX_PACK_LIMIT) {
    throw new UsageError(`pack size limit must be from ${minPack} bytes (one chunk) to ${MAX_PACK_LIMIT} bytes`);
  }
  if (!Number.isInteger(o.threads) || o.threads < 1 || o.threads > 64) throw new UsageError("threads must be 1..64");
  if (o.passphrase.length === 0) throw new UsageError("the passphrase is empty");
}

/** Reads and checks a policy file for a stick (build, update): a JSON object that passes the policy schema. */
export async function readPolicy(path: string | undefined): Promise<Buffer | undefined> {
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
  try {
    // a policy the launcher would refuse is the admin's to fix, now
    validatePolicy(parsed as Record<string, unknown>);
  } catch (err) {
    if (err instanceof CorruptStickError) throw new UsageError(`policy ${path}: ${err.message.replace(/^policy\.json: /, "")}`);
    throw err;
  }
  return buf;
}

/**
 * Builds a stick folder from a disk image (FORMAT.md "Writing a stick"). Packs, index,
 * manifest, policy and key slots are written and synced first; the header last, so a stick
 * without a valid header is an unfinished build. On any failure the folder is emptied again.
 */
export async function buildStick(o: BuildOptions): Promise<BuildResult> {
  checkOptions(o);
  if (o.recoveryKeyFile !== undefined) {
    const file = o.recoveryKeyFile;
    await refuseExisting(file, () => new UsageError(`${file} already exists; the recovery key goes into a new file`));
  }
  const signing = await readSigningKey(o.signingKey);
  try {
    const policy = await readPolicy(o.policy);
    const players = await planPlayers(o.players ?? []);
    const launchers = o.launchers === undefined ? [] : await findLaunchers(o.launchers);
    const opened: { close(): Promise<void> }[] = [];
    try {
      const base = await openDisk(o.image, o.format, "image", o.chunkSize);
      opened.push(base);
      const template = o.userImage === undefined ? undefined : await openUserTemplate(o.userImage, o.userImageFormat, o.userSize, o.chunkSize);
      if (template) opened.push(template);
      const boot = o.boot && { ...(await openBootFiles(o.boot)), append: o.boot.append };
      if (boot) opened.push(boot.kernel, boot.initrd);
      const created = await prepareOutput(o.out, "make-stick build");
      return await writeStick(o, { base, template, boot }, signing, { policy, players, launchers }, created);
    } finally {
      for (const source of opened.reverse()) await source.close();
    }
  } finally {
    signing.seed.fill(0);
  }
}

/** Finds every file of every player before anything is written, so a missing library fails the build at once. */
async function planPlayers(specs: PlayerSpec[]): Promise<BundlePlan[]> {
  const targets = new Set(specs.map((s) => s.target));
  if (targets.size !== specs.length) throw new UsageError("--player names one target twice");
  const plans = [];
  for (const spec of specs) plans.push(await planHostBundle(spec));
  return plans;
}

/** Opens a disk image and checks that a manifest can describe it. */
export async function openDisk(path: string, format: DiskFormat | undefined, what: string, chunkSize: number): Promise<ImageSource> {
  const source = await openImage(path, format);
  if (entryCountFor(source.size, chunkSize) > MAX_MANIFEST_ENTRIES) {
    await source.close();
    throw new UsageError(`a ${source.size}-byte ${what} needs more than ${MAX_MANIFEST_ENTRIES} chunks of ${chunkSize} bytes; use a larger --chunk-size`);
  }
  return source;
}

/** The user template decides the user disk's size: an explicit --user-size must agree with it. */
async function openUserTemplate(path: string, format: DiskFormat | undefined, userSize: number | undefined, chunkSize: number): Promise<ImageSource> {
  const source = await openDisk(path, format, "user image", chunkSize);
  if (userSize !== undefined && userSize !== source.size) {
    await source.close();
    throw new UsageError(
      `--user-size ${userSize} differs from the user image's size (${source.size} bytes): the user disk is the template's size, so leave --user-size out or make it equal`,
    );
  }
  return source;
}

/** Writes the stick into the prepared, empty folder; on failure, empties it again. */
async function writeStick(
  o: BuildOptions,
  images: { base: ImageSource; template: ImageSource | undefined; boot: { kernel: BootFileSource; initrd: BootFileSource; append: string } | undefined },
  signing: SigningKeyPair,
  extras: { policy: Buffer | undefined; players: BundlePlan[]; launchers: string[] },
  created: boolean,
): Promise<BuildResult> {
  const { policy } = extras;
  const lineageId = lineageIdFor(signing.publicKey, o.lineage);
  const secrets = newStickSecrets(signing.seed, lineageId);
  let wroteRecoveryFile = false;
  try {
    const stickId = randomBytes(STICK_ID_BYTES);
    const createdMs = Date.now();
    await mkdir(join(o.out, STICK_FILES.baseDir));
    await mkdir(join(o.out, STICK_FILES.chunksDir));
    const packs = new PackWriter(o.out, 0, o.packLimit, maxRecordLength(o.chunkSize));
    const { base: source, template, boot } = images;
    let disks;
    try {
      // the disks first (packs in the order a boot reads them), then the boot files, deduplicated against them
      disks = await writeDisks([source, ...(template ? [template] : []), ...(boot ? [boot.kernel, boot.initrd] : [])], packs, {
        keys: secrets,
        chunkSize: o.chunkSize,
        compressionLevel: o.compressionLevel,
        threads: o.threads,
        interrupted: INTERRUPTED,
        ...(o.signal ? { signal: o.signal } : {}),
        ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      });
      await packs.finish();
    } catch (err) {
      await packs.abandon();
      throw err;
    }
    await writeNewFileDurably(join(o.out, indexFileName(1)), packs.index.encode(packs.packCount));

    const cut = disks.values();
    const next = (): DiskChunks => {
      const d = cut.next();
      if (d.done === true) throw new Error("writeDisks returned fewer disks than it was given");
      return d.value;
    };
    const base = next();
    const user = template && next();
    const bootCut = boot && { append: boot.append, kernel: { size: boot.kernel.size, ...next() }, initrd: { size: boot.initrd.size, ...next() } };
    const manifestFor = (baseVersion: number, diskSize: number, entries: Buffer): Manifest => ({
      baseVersion,
      lineageId,
      diskSize,
      chunkSize: o.chunkSize,
      createdMs,
      signerPublicKey: signing.publicKey,
      entries,
    });
    const manifestBytes = encodeSignedManifest(manifestFor(1, source.size, base.entries), signing);
    await writeNewFileDurably(join(o.out, manifestFileName(1)), manifestBytes);
    const templateBytes = template && user && encodeSignedManifest(manifestFor(USER_TEMPLATE_BASE_VERSION, template.size, user.entries), signing);
    if (templateBytes) await writeNewFileDurably(join(o.out, STICK_FILES.userTemplate), templateBytes);
    const bootBytes = bootCut && encodeSignedBootManifest({ baseVersion: 1, lineageId, chunkSize: o.chunkSize, createdMs, signerPublicKey: signing.publicKey, ...bootCut }, signing);
    if (bootBytes) await writeNewFileDurably(join(o.out, bootManifestFileName(1)), bootBytes);
    if (policy) await writeNewFileDurably(join(o.out, STICK_FILES.policy), policy);
    const players = [];
    for (const plan of extras.players) {
      const m = await writeBundle(plan, o.out);
      players.push({ target: m.target, files: m.files.length, bytes: m.files.reduce((n, f) => n + f.size, 0) });
    }

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

    const userDiskSize = template?.size ?? o.userSize ?? DEFAULT_USER_SIZE;
    // the user log's files are made here, so that the first start on a slow stick does not write them
    await makeLogOnStick(join(o.out, STICK_FILES.userDir), secrets.userKey, userDiskSize, userDiskSize);
    await writeStaticFiles(o.out);
    if (o.launchers !== undefined) await writeLaunchers(o.launchers, extras.launchers, o.out);
    const header: StickHeader = {
      formatVersion: formatVersionFor({ userTemplate: templateBytes !== undefined, boot: bootBytes !== undefined }),
      sequence: 1,
      stickId,
      lineageId,
      adminPublicKey: signing.publicKey,
      policyDigest: policy ? sha256(policy) : Buffer.alloc(32),
      baseVersion: 1,
      userDiskSize,
      localDiskSize: o.localSize,
      createdMs,
      manifestDigest: sha256(manifestBytes),
      ...(templateBytes ? { userTemplateDigest: sha256(templateBytes) } : {}),
      ...(bootBytes ? { bootDigest: sha256(bootBytes) } : {}),
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
      chunks: base.counts,
      userDiskSize,
      ...(template && user ? { userTemplate: { imageBytes: template.size, chunks: user.counts } } : {}),
      ...(bootCut
        ? {
            boot: {
              kernel: { bytes: bootCut.kernel.size, chunks: bootCut.kernel.counts },
              initrd: { bytes: bootCut.initrd.size, chunks: bootCut.initrd.counts },
              append: bootCut.append,
            },
          }
        : {}),
      players,
      launchers: extras.launchers,
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
