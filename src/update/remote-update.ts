import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseBootManifest, type BootManifest } from "../../stick-layout/boot-manifest.js";
import { ChunkIndex, IndexBuilder, type ChunkLocation } from "../../stick-layout/chunk-index.js";
import { bootManifestFileName, DEFAULT_PACK_LIMIT, indexFileName, manifestFileName, packFileName, releaseFileName, STICK_FILES, UPDATE_DOWNLOAD_DIR, versionPolicyFileName } from "../../stick-layout/format.js";
import type { StickHeader } from "../../stick-layout/header.js";
import { parseManifest, ZERO_CHUNK_ID, type Manifest, type Signed } from "../../stick-layout/manifest.js";
import { parseRecord } from "../../stick-layout/pack.js";
import type { Release } from "../../stick-layout/release.js";
import type { StickSecrets } from "../../stick-layout/secrets.js";
import { DedupTable } from "../admin/dedup-table.js";
import { ChunkDecodeError, decodeChunk } from "../chunkstore/chunk-codec.js";
import { maxRecordLength } from "../chunkstore/pack-reader.js";
import { PackWriter } from "../chunkstore/pack-writer.js";
import { loadChunkIndex, signedFileOf } from "../chunkstore/stick-files.js";
import { sha256 } from "../crypto/hash.js";
import { CorruptStickError, fileError, UpdateRefusedError } from "../errors/errors.js";
import { LayoutError } from "../util/bytes.js";
import { syncFolder, writeNewFileDurably } from "../util/durable-file.js";
import { DOWNLOAD_RELEASE, DOWNLOAD_STATE, downloadInProgress, scanDownloadPacks } from "./download-packs.js";
import { fetchBytes, repositoryUrl, UpdateFetchError } from "./http-get.js";
import { REPOSITORY_FILES } from "./publish.js";
import { discardStaged } from "./stage.js";
import { authenticRelease, findStagedRelease } from "./staged-release.js";
import { recordUpdateContact } from "./update-state-file.js";
import { noteUpdateContact } from "../policy/stick-state-updates.js";
import { stickStateAccess } from "../policy/stick-state-file.js";
import { fetchRevocationList } from "./revocation-fetch.js";

/** Records closer than this in a pack are fetched with one request, gap included. */
const COALESCE_GAP_BYTES = 64 * 1024;
/** The longest single range request. */
const MAX_RANGE_BYTES = 8 * 1024 * 1024;

export interface RemoteUpdateOptions {
  stickDir: string;
  header: StickHeader;
  secrets: StickSecrets;
  /** The user template's manifest: its chunks stay where they are, and the new index names them. */
  template: Manifest | undefined;
  url: URL;
  /** For the release record; a download's requests each get it as their longest silence. */
  timeoutMs: number;
  signal?: AbortSignal;
  onStatus: (message: string) => void;
}

export type RemoteOutcome =
  | { kind: "up-to-date" | "already-staged"; version: number }
  | { kind: "staged"; version: number; downloadedBytes: number }
  | { kind: "interrupted"; version: number; downloadedBytes: number; remainingBytes: number };

interface Range {
  pack: number;
  start: number;
  end: number;
  records: { id: Buffer; loc: ChunkLocation }[];
}

/** A signed file of the release: kept in the download folder once fetched, checked against the release's digest either way. */
async function releaseFile(o: RemoteUpdateOptions, name: string, named: { digest: Buffer; size: number }): Promise<Buffer> {
  const kept = join(o.stickDir, UPDATE_DOWNLOAD_DIR, name.replace("/", "-"));
  const have = await readFile(kept).catch(() => undefined);
  if (have !== undefined && sha256(have).equals(named.digest)) return have;
  const bytes = await fetchBytes(repositoryUrl(o.url, name), { maxBytes: named.size, timeoutMs: o.timeoutMs, ...(o.signal ? { signal: o.signal } : {}) });
  if (!sha256(bytes).equals(named.digest)) throw new UpdateRefusedError(`${name} from ${o.url.href} is not the file the release names (tampered)`);
  await writeFile(kept, bytes);
  return bytes;
}

function signedBy<T extends { signerPublicKey: Buffer; baseVersion: number; lineageId: Buffer }>(name: string, bytes: Buffer, parse: (b: Buffer) => Signed<T>, header: StickHeader, named: { version: number; digest: Buffer }): T {
  let m: T;
  try {
    m = signedFileOf(name, bytes, parse, header.adminPublicKey, named.digest);
  } catch (err) {
    if (err instanceof CorruptStickError) throw new UpdateRefusedError(err.message);
    throw err;
  }
  if (m.baseVersion !== named.version || !m.lineageId.equals(header.lineageId)) throw new UpdateRefusedError(`${name} belongs to another base version or lineage`);
  return m;
}

/** The records to fetch, grouped into range requests: neighbours in one pack coalesced, gaps included. */
export function planRanges(wanted: { id: Buffer; loc: ChunkLocation }[]): Range[] {
  const sorted = [...wanted].sort((a, b) => a.loc.pack - b.loc.pack || a.loc.offset - b.loc.offset);
  const ranges: Range[] = [];
  for (const w of sorted) {
    const last = ranges[ranges.length - 1];
    const end = w.loc.offset + w.loc.length;
    if (last !== undefined && last.pack === w.loc.pack && w.loc.offset - last.end <= COALESCE_GAP_BYTES && end - last.start <= MAX_RANGE_BYTES && w.loc.offset >= last.end) {
      last.end = end;
      last.records.push(w);
    } else ranges.push({ pack: w.loc.pack, start: w.loc.offset, end, records: [w] });
  }
  return ranges;
}

function chunkIds(entries: Buffer[], into: Map<string, Buffer>): void {
  for (const e of entries) {
    for (let at = 0; at < e.length; at += 32) {
      const id = e.subarray(at, at + 32);
      if (!id.equals(ZERO_CHUNK_ID)) into.set(id.toString("hex"), id);
    }
  }
}

/**
 * The launcher's remote update (FORMAT.md §28.3, §28.4): fetches the repository's release record;
 * a validly signed one is a contact (the update state notes it); if it is newer than the stick's
 * base (and than a staged one), fetches its manifests and policy, says exactly how many bytes it
 * will download, downloads only the chunk records the stick lacks with range requests, checks each
 * (decrypts, inflates, hashes to its id), and appends them to new packs. An interrupted download
 * resumes at the next start. When all is there, it stages the release as `make-stick update`
 * does, for the next start to apply. UpdateRefusedError: signed by another key, older, tampered.
 */
export async function remoteUpdate(o: RemoteUpdateOptions): Promise<RemoteOutcome> {
  const signal = o.signal ? { signal: o.signal } : {};
  const releaseBytes = await fetchBytes(repositoryUrl(o.url, REPOSITORY_FILES.release), { maxBytes: 4096, timeoutMs: o.timeoutMs, ...signal });
  const release = authenticRelease(releaseBytes, o.header, `${REPOSITORY_FILES.release} from ${o.url.href}`);
  await recordUpdateContact({ stickDir: o.stickDir, stickId: o.header.stickId, userKey: o.secrets.userKey });
  // the policy's clock: a contact resets maxOfflineDays, and a listed stick refuses its next start
  const revoked = await fetchRevocationList({ url: o.url, header: o.header, timeoutMs: o.timeoutMs, ...signal });
  await noteUpdateContact(stickStateAccess(o.stickDir, o.secrets.userKey, o.header.stickId), {
    atMs: Date.now(),
    revokedIds: revoked.stickIds.map((id) => id.toString("hex")),
  });
  if (release.baseVersion < o.header.baseVersion) {
    throw new UpdateRefusedError(`${o.url.href} offers base version ${release.baseVersion}, older than this stick's ${o.header.baseVersion} (an older release is never applied: rollback)`);
  }
  if (release.baseVersion === o.header.baseVersion) return { kind: "up-to-date", version: release.baseVersion };
  const staged = (await findStagedRelease(o.stickDir, o.header)).release;
  if (staged !== undefined && staged.baseVersion >= release.baseVersion) return { kind: "already-staged", version: staged.baseVersion };
  const current = await loadChunkIndex(o.stickDir, o.header);
  let progress = await downloadInProgress(o.stickDir);
  if (progress === undefined || !progress.release.equals(releaseBytes)) {
    await discardStaged(o.stickDir, o.header.baseVersion, current.packCount);
    await mkdir(join(o.stickDir, UPDATE_DOWNLOAD_DIR));
    await writeFile(join(o.stickDir, UPDATE_DOWNLOAD_DIR, DOWNLOAD_STATE), JSON.stringify({ firstPack: current.packCount }));
    // the release last: a download folder without it is not a download
    await writeFile(join(o.stickDir, UPDATE_DOWNLOAD_DIR, DOWNLOAD_RELEASE), releaseBytes);
    progress = { release: releaseBytes, firstPack: current.packCount };
  }
  try {
    return await download(o, release, current, progress.firstPack);
  } catch (err) {
    // a refused release leaves nothing behind; a cut connection keeps what arrived
    if (err instanceof UpdateRefusedError) await discardStaged(o.stickDir, o.header.baseVersion, current.packCount);
    throw err;
  }
}

async function download(o: RemoteUpdateOptions, release: Release, current: ChunkIndex, firstPack: number): Promise<RemoteOutcome> {
  const v = release.baseVersion;
  const signal = o.signal ? { signal: o.signal } : {};
  const manifestBytes = await releaseFile(o, manifestFileName(v), release.manifest);
  const manifest = signedBy(manifestFileName(v), manifestBytes, parseManifest, o.header, { version: v, digest: release.manifest.digest });
  const bootBytes = release.boot && (await releaseFile(o, bootManifestFileName(v), release.boot));
  const boot: BootManifest | undefined = bootBytes && release.boot && signedBy(bootManifestFileName(v), bootBytes, parseBootManifest, o.header, { version: v, digest: release.boot.digest });
  const policyBytes = release.policy && (await releaseFile(o, versionPolicyFileName(v), release.policy));
  let remoteIndex: ChunkIndex;
  try {
    remoteIndex = ChunkIndex.parse(await fetchBytes(repositoryUrl(o.url, indexFileName(v)), { maxBytes: 2 * 1024 * 1024 * 1024 - 1, timeoutMs: o.timeoutMs, ...signal }));
  } catch (err) {
    if (err instanceof LayoutError) throw new UpdateRefusedError(`${indexFileName(v)} from ${o.url.href}: ${err.message}`);
    throw err;
  }
  const needed = new Map<string, Buffer>();
  chunkIds([manifest.entries, ...(boot ? [boot.kernel.entries, boot.initrd.entries] : [])], needed);
  const have = await scanDownloadPacks(o.stickDir, firstPack, o.secrets.baseKey);
  const wanted: { id: Buffer; loc: ChunkLocation }[] = [];
  for (const [hex, id] of needed) {
    if (current.find(id) !== undefined || have.chunks.has(hex)) continue;
    const loc = remoteIndex.find(id);
    if (loc === undefined) throw new UpdateRefusedError(`the repository's ${indexFileName(v)} lacks chunk ${hex} of base version ${v}`);
    if (loc.length > maxRecordLength(manifest.chunkSize)) throw new UpdateRefusedError(`the repository's ${indexFileName(v)} gives chunk ${hex} ${loc.length} bytes, more than a chunk can take`);
    wanted.push({ id, loc });
  }
  const ranges = planRanges(wanted);
  const total = ranges.reduce((n, r) => n + r.end - r.start, 0);
  o.onStatus(`update: base version ${v} is available at ${o.url.href}: downloading ${total} bytes (${wanted.length} chunks the stick lacks, in ${ranges.length} range requests${have.chunks.size > 0 ? `; ${have.chunks.size} chunks were downloaded before` : ""})`);
  const packs = new PackWriter(o.stickDir, have.nextPack, DEFAULT_PACK_LIMIT, maxRecordLength(manifest.chunkSize));
  const fetched = new Map(have.chunks);
  let done = 0;
  try {
    for (const r of ranges) {
      let bytes: Buffer;
      let cut: UpdateFetchError | undefined;
      try {
        bytes = await fetchBytes(repositoryUrl(o.url, packFileName(r.pack)), { range: { start: r.start, end: r.end }, maxBytes: r.end - r.start, timeoutMs: o.timeoutMs, ...signal });
      } catch (err) {
        if (!(err instanceof UpdateFetchError)) throw err;
        // the records that arrived whole are kept
        bytes = err.partial;
        cut = err;
      }
      for (const { id, loc } of r.records) {
        const at = loc.offset - r.start;
        if (at + loc.length > bytes.length) break;
        let sealed;
        try {
          const record = parseRecord(bytes.subarray(at, at + loc.length));
          if (!record.id.equals(id)) throw new ChunkDecodeError("the record there holds another chunk");
          decodeChunk(o.secrets, id, record.sealed, manifest.chunkSize);
          sealed = record.sealed;
        } catch (err) {
          if (err instanceof ChunkDecodeError || err instanceof LayoutError) throw new UpdateRefusedError(`chunk ${id.toString("hex")} in pack ${r.pack} of ${o.url.href} is damaged or tampered: ${err.message}`);
          throw err;
        }
        fetched.set(id.toString("hex"), packs.index.locationAt(await packs.append(id, sealed)));
        done += loc.length;
      }
      if (cut) throw cut;
    }
  } catch (err) {
    // what arrived is kept for the next start
    await packs.finish();
    if (err instanceof UpdateFetchError) {
      o.onStatus(`update: the download stopped after ${done} of ${total} bytes (${err.message}); it resumes at the next start`);
      return { kind: "interrupted", version: v, downloadedBytes: done, remainingBytes: total - done };
    }
    throw err;
  }
  await packs.finish();
  await stageDownloaded(o, { release, manifestBytes, bootBytes, policyBytes, needed, current, fetched, packCount: Math.max(current.packCount, packs.packCount) });
  o.onStatus(`update: base version ${v} downloaded (${total} bytes) and staged: the next start applies it`);
  return { kind: "staged", version: v, downloadedBytes: total };
}

/** Writes the downloaded release as a staged update (§27.2's files, the release record last), then drops the download folder. */
async function stageDownloaded(
  o: RemoteUpdateOptions,
  d: { release: Release; manifestBytes: Buffer; bootBytes: Buffer | undefined; policyBytes: Buffer | undefined; needed: Map<string, Buffer>; current: ChunkIndex; fetched: Map<string, ChunkLocation>; packCount: number },
): Promise<void> {
  const v = d.release.baseVersion;
  const ids = new Map(d.needed);
  if (o.template) chunkIds([o.template.entries], ids);
  const index = new IndexBuilder();
  const seen = new DedupTable(index);
  for (const [hex, id] of ids) {
    const loc = d.current.find(id) ?? d.fetched.get(hex);
    if (loc === undefined) throw new Error(`chunk ${hex} was neither on the stick nor downloaded`);
    if (seen.find(id) === undefined) seen.add(id, index.add({ id, ...loc }));
  }
  const files: [string, Buffer | undefined][] = [
    [indexFileName(v), index.encode(d.packCount)],
    [manifestFileName(v), d.manifestBytes],
    [bootManifestFileName(v), d.bootBytes],
    [versionPolicyFileName(v), d.policyBytes],
  ];
  for (const [name, bytes] of files) {
    if (bytes === undefined) continue;
    await rm(join(o.stickDir, name), { force: true });
    await writeNewFileDurably(join(o.stickDir, name), bytes);
  }
  await syncFolder(join(o.stickDir, STICK_FILES.chunksDir));
  await syncFolder(join(o.stickDir, STICK_FILES.baseDir));
  await rm(join(o.stickDir, releaseFileName(v)), { force: true });
  const releaseBytes = await readFile(join(o.stickDir, UPDATE_DOWNLOAD_DIR, DOWNLOAD_RELEASE)).catch((err: unknown) => { throw fileError(err, "read", UPDATE_DOWNLOAD_DIR); });
  await writeNewFileDurably(join(o.stickDir, releaseFileName(v)), releaseBytes);
  await syncFolder(join(o.stickDir, STICK_FILES.baseDir));
  await rm(join(o.stickDir, UPDATE_DOWNLOAD_DIR), { recursive: true, force: true });
}
