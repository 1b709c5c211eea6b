import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { encodeSignedBootManifest, type BootManifest } from "../../stick-layout/boot-manifest.js";
import type { ChunkIndex } from "../../stick-layout/chunk-index.js";
import { bootManifestFileName, indexFileName, manifestFileName, packFileName, releaseFileName, STICK_FILES, UPDATE_DOWNLOAD_DIR, versionPolicyFileName } from "../../stick-layout/format.js";
import type { StickHeader } from "../../stick-layout/header.js";
import { encodeSignedManifest, ZERO_CHUNK_ID } from "../../stick-layout/manifest.js";
import { encodeRelease, type NamedFile } from "../../stick-layout/release.js";
import { lineageIdFor, newStickSecrets, wipeSecrets } from "../../stick-layout/secrets.js";
import { openBootFiles, type BootOptions } from "../admin/boot-input.js";
import { openDisk, readPolicy } from "../admin/build.js";
import { DedupTable } from "../admin/dedup-table.js";
import type { DiskFormat } from "../admin/image-format.js";
import { readSigningKey } from "../admin/signing-key.js";
import { writeDisks, type ChunkCounts, type ChunkSource } from "../admin/write-chunks.js";
import { maxRecordLength } from "../chunkstore/pack-reader.js";
import { PackWriter } from "../chunkstore/pack-writer.js";
import { loadBootManifest, loadChunkIndex, loadManifest, loadUserTemplate, readHeaderCopies } from "../chunkstore/stick-files.js";
import { sha256 } from "../crypto/hash.js";
import type { SigningKeyPair } from "../crypto/signing.js";
import { BadKeyFileError, CorruptStickError, fileError, InterruptedError, UsageError } from "../errors/errors.js";
import { lockStick } from "../serve/stick-lock.js";
import { syncFolder, writeNewFileDurably } from "../util/durable-file.js";
import { stickInventory } from "./stick-inventory.js";

export interface StageOptions {
  stick: string;
  image: string;
  format?: DiskFormat;
  signingKey: string;
  /** The lineage name the stick was built with (its id is checked against the header's). */
  lineage: string;
  /** A new policy for the stick; default: it keeps its own. */
  policy?: string;
  /** New boot files; default: a stick that boots from the stick's kernel and initrd keeps them. */
  boot?: BootOptions;
  compressionLevel: number;
  threads: number;
  packLimit: number;
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
  signal?: AbortSignal;
  /** Called once each step's files are durable (FORMAT.md §27.2): tests copy the stick there to see what a crash leaves. */
  onStep?: (step: StageStep) => Promise<void>;
}

export type StageStep = "discarded" | "packs" | "index" | "manifest" | "boot" | "policy" | "release";

export interface StageResult {
  fromVersion: number;
  version: number;
  chunks: ChunkCounts;
  /** Bytes of the new files on the stick (packs, index, manifests, policy, release record). */
  bytesAdded: number;
  newPacks: number;
}

const INTERRUPTED = "the update was interrupted; the stick stays on its base version (what was staged is removed)";

/** The newest header copy, not authenticated: the admin has no header MAC key. The launcher checks everything at apply. */
async function currentHeader(stick: string): Promise<StickHeader> {
  const copies = await readHeaderCopies(stick);
  const newest = copies.map((c) => c.header).sort((a, b) => b.sequence - a.sequence)[0];
  if (newest === undefined) throw new Error("unreachable: readHeaderCopies returns at least one copy");
  return newest;
}

/**
 * Removes a staged update that was not applied (its release record first, so that a crash part
 * way leaves no record naming missing files), then every file of a base version above the
 * header's, the packs no index of the header's version names, and a remote download.
 */
export async function discardStaged(stick: string, baseVersion: number, packCount: number): Promise<void> {
  const inv = await stickInventory(stick);
  const above = inv.versionFiles.filter((f) => f.version > baseVersion);
  const releases = above.filter((f) => f.name === releaseFileName(f.version));
  for (const f of releases) await rm(join(stick, f.name), { force: true });
  if (releases.length > 0) await syncFolder(join(stick, STICK_FILES.baseDir));
  for (const f of above) await rm(join(stick, f.name), { force: true });
  for (const p of inv.packs.filter((n) => n >= packCount)) await rm(join(stick, packFileName(p)), { force: true });
  await rm(join(stick, UPDATE_DOWNLOAD_DIR), { recursive: true, force: true });
}

/** Adds the ids of a kept image (the user template, unchanged boot files) to the new index at the places the stick has them. */
function keepChunks(entries: Buffer, index: ChunkIndex, packs: PackWriter, seen: DedupTable): void {
  for (let at = 0; at < entries.length; at += 32) {
    const id = entries.subarray(at, at + 32);
    if (id.equals(ZERO_CHUNK_ID) || seen.find(id) !== undefined) continue;
    const loc = index.find(id);
    if (loc === undefined) throw new CorruptStickError(`chunk ${id.toString("hex")} of the stick's base is not in its index; make-stick verify lists what is lost`);
    seen.add(id, packs.index.add({ id, ...loc }));
  }
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    throw fileError(err, "check", path);
  }
}

/**
 * `make-stick update`: stages base version N+1 on a stick with the admin key alone (FORMAT.md
 * §27.2). Only chunks the stick lacks are written, into new packs numbered after its own; then
 * index, manifest, boot manifest and policy of N+1, each a new file; then, last, the signed
 * release record that names them, the stage's commit point. The stick keeps running N until a
 * launcher applies N+1 (src/update/apply.ts). An earlier staged update that was not applied is
 * replaced. On failure what was staged is removed; a crash leaves files that the next update or
 * start removes, and the stick on N either way.
 */
export async function stageUpdate(o: StageOptions): Promise<StageResult> {
  const signing = await readSigningKey(o.signingKey);
  try {
    const header = await currentHeader(o.stick);
    if (!header.adminPublicKey.equals(signing.publicKey)) throw new BadKeyFileError(o.signingKey, "this stick's header pins another admin key; updates must be signed by the key that built it");
    if (!lineageIdFor(signing.publicKey, o.lineage).equals(header.lineageId)) throw new UsageError(`this stick is not of lineage "${o.lineage}": pass the --lineage it was built with`);
    const policy = await readPolicy(o.policy);
    const lock = await lockStick(o.stick);
    try {
      return await stageLocked(o, header, signing, policy);
    } finally {
      await lock.release();
    }
  } finally {
    signing.seed.fill(0);
  }
}

async function stageLocked(o: StageOptions, header: StickHeader, signing: SigningKeyPair, policy: Buffer | undefined): Promise<StageResult> {
  const manifest = await loadManifest(o.stick, header);
  const template = await loadUserTemplate(o.stick, header, manifest);
  const oldBoot = await loadBootManifest(o.stick, header, manifest);
  const index = await loadChunkIndex(o.stick, header);
  const { chunkSize } = manifest;
  const version = header.baseVersion + 1;
  const opened: { close(): Promise<void> }[] = [];
  const secrets = newStickSecrets(signing.seed, header.lineageId);
  try {
    const image = await openDisk(o.image, o.format, "image", chunkSize);
    opened.push(image);
    const newBoot = o.boot && (await openBootFiles(o.boot));
    if (newBoot) opened.push(newBoot.kernel, newBoot.initrd);
    await discardStaged(o.stick, header.baseVersion, index.packCount);
    await o.onStep?.("discarded");
    const packs = new PackWriter(o.stick, index.packCount, o.packLimit, maxRecordLength(chunkSize));
    const seen = new DedupTable(packs.index);
    try {
      if (template) keepChunks(template.entries, index, packs, seen);
      if (oldBoot && !newBoot) for (const f of [oldBoot.kernel, oldBoot.initrd]) keepChunks(f.entries, index, packs, seen);
      const sources: ChunkSource[] = [image, ...(newBoot ? [newBoot.kernel, newBoot.initrd] : [])];
      const cut = await writeDisks(sources, packs, {
        keys: secrets,
        chunkSize,
        compressionLevel: o.compressionLevel,
        threads: o.threads,
        interrupted: INTERRUPTED,
        dedup: seen,
        reuse: (id) => index.find(id),
        ...(o.signal ? { signal: o.signal } : {}),
        ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      });
      await packs.finish();
      await o.onStep?.("packs");
      const [base, kernel, initrd] = cut;
      if (base === undefined) throw new Error("writeDisks returned no disk");
      const createdMs = Date.now();
      const written: string[] = [];
      const write = async (name: string, bytes: Buffer): Promise<NamedFile> => {
        await writeNewFileDurably(join(o.stick, name), bytes);
        written.push(name);
        return { digest: sha256(bytes), size: bytes.length };
      };
      await write(indexFileName(version), packs.index.encode(packs.packCount));
      await o.onStep?.("index");
      const manifestFile = await write(
        manifestFileName(version),
        encodeSignedManifest({ baseVersion: version, lineageId: header.lineageId, diskSize: image.size, chunkSize, createdMs, signerPublicKey: signing.publicKey, entries: base.entries }, signing),
      );
      await o.onStep?.("manifest");
      const bootManifest: BootManifest | undefined =
        newBoot && kernel && initrd && o.boot
          ? { baseVersion: version, lineageId: header.lineageId, chunkSize, createdMs, signerPublicKey: signing.publicKey, kernel: { size: newBoot.kernel.size, entries: kernel.entries }, initrd: { size: newBoot.initrd.size, entries: initrd.entries }, append: o.boot.append }
          : oldBoot && { ...oldBoot, baseVersion: version, createdMs, signerPublicKey: signing.publicKey };
      const bootFile = bootManifest && (await write(bootManifestFileName(version), encodeSignedBootManifest(bootManifest, signing)));
      await o.onStep?.("boot");
      const policyFile = policy && (await write(versionPolicyFileName(version), policy));
      await o.onStep?.("policy");
      await syncFolder(join(o.stick, STICK_FILES.chunksDir));
      await syncFolder(join(o.stick, STICK_FILES.baseDir));
      if (o.signal?.aborted) throw new InterruptedError(INTERRUPTED);
      await write(
        releaseFileName(version),
        encodeRelease({ baseVersion: version, lineageId: header.lineageId, createdMs, signerPublicKey: signing.publicKey, manifest: manifestFile, ...(bootFile ? { boot: bootFile } : {}), ...(policyFile ? { policy: policyFile } : {}) }, signing),
      );
      await syncFolder(join(o.stick, STICK_FILES.baseDir));
      await o.onStep?.("release");
      const newPacks = packs.packCount - index.packCount;
      let bytesAdded = 0;
      for (const name of written) bytesAdded += await fileSize(join(o.stick, name));
      for (let p = index.packCount; p < packs.packCount; p++) bytesAdded += await fileSize(join(o.stick, packFileName(p)));
      return { fromVersion: header.baseVersion, version, chunks: base.counts, bytesAdded, newPacks };
    } catch (err) {
      await packs.abandon();
      await discardStaged(o.stick, header.baseVersion, index.packCount).catch(() => undefined);
      throw err;
    }
  } finally {
    wipeSecrets(secrets);
    for (const source of opened.reverse()) await source.close();
  }
}
