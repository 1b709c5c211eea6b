import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseBootManifest, type BootManifest } from "../../stick-layout/boot-manifest.js";
import type { ChunkIndex } from "../../stick-layout/chunk-index.js";
import { bootManifestFileName, manifestFileName, versionPolicyFileName } from "../../stick-layout/format.js";
import type { StickHeader } from "../../stick-layout/header.js";
import { parseManifest, ZERO_CHUNK_ID, type Manifest } from "../../stick-layout/manifest.js";
import type { Release } from "../../stick-layout/release.js";
import type { StickSecrets } from "../../stick-layout/secrets.js";
import { ChunkDecodeError, decodeChunk } from "../chunkstore/chunk-codec.js";
import { describeLocation, PackReader } from "../chunkstore/pack-reader.js";
import { loadChunkIndex, loadSignedManifest } from "../chunkstore/stick-files.js";
import { sha256 } from "../crypto/hash.js";
import { fileError, StickvmError, UpdateRefusedError } from "../errors/errors.js";
import { parsePolicyJson } from "../policy/policy-json.js";

/** The files of a staged release, each checked against it. */
export interface StagedFiles {
  manifest: Manifest;
  boot: BootManifest | undefined;
  policyBytes: Buffer | undefined;
}

/** Runs a check of the staged files; any stick error in it (a missing file, a bad signature, a bad chunk) refuses the update. */
async function refusing<T>(release: Release, what: () => Promise<T>): Promise<T> {
  try {
    return await what();
  } catch (err) {
    if (err instanceof StickvmError && err.code !== "IO" && err.code !== "NO_SPACE") throw new UpdateRefusedError(`base version ${release.baseVersion} staged on this stick is refused: ${err.message}`);
    throw err;
  }
}

function requireChunks(entries: Buffer, index: ChunkIndex, what: string): void {
  for (let at = 0; at < entries.length; at += 32) {
    const id = entries.subarray(at, at + 32);
    if (!id.equals(ZERO_CHUNK_ID) && index.find(id) === undefined) throw new UpdateRefusedError(`its index lacks chunk ${id.toString("hex")} of the ${what}`);
  }
}

/**
 * Checks a staged release's files before it is applied (FORMAT.md §27.4): the manifest and boot
 * manifest signed by the pinned key and matching the release's digests, base version and
 * lineage, the chunk size unchanged; the policy matching its digest; every chunk the new base,
 * its boot files and the user template need in the new index; and every record the new index
 * places where the current one has nothing fully decoded (decrypts, inflates, hashes to its id).
 */
export async function checkStaged(stickDir: string, header: StickHeader, current: { manifest: Manifest; template: Manifest | undefined; index: ChunkIndex }, release: Release, secrets: StickSecrets): Promise<StagedFiles> {
  return refusing(release, async () => {
    const v = release.baseVersion;
    const ownVersion = (name: string, m: { baseVersion: number; lineageId: Buffer; chunkSize: number }): void => {
      if (m.baseVersion !== v || !m.lineageId.equals(header.lineageId)) throw new UpdateRefusedError(`${name} belongs to another base version or lineage`);
      if (m.chunkSize !== current.manifest.chunkSize) throw new UpdateRefusedError(`${name} uses ${m.chunkSize}-byte chunks; this stick's are ${current.manifest.chunkSize} bytes`);
    };
    const manifest = await loadSignedManifest(stickDir, manifestFileName(v), parseManifest, header.adminPublicKey, release.manifest.digest);
    ownVersion(manifestFileName(v), manifest);
    const boot = release.boot && (await loadSignedManifest(stickDir, bootManifestFileName(v), parseBootManifest, header.adminPublicKey, release.boot.digest));
    if (boot) ownVersion(bootManifestFileName(v), boot);
    const policyBytes = release.policy && (await readFile(join(stickDir, versionPolicyFileName(v))).catch((err: unknown) => { throw fileError(err, "read", join(stickDir, versionPolicyFileName(v))); }));
    if (policyBytes && release.policy && !sha256(policyBytes).equals(release.policy.digest)) throw new UpdateRefusedError(`${versionPolicyFileName(v)} is not the policy the release names`);
    if (policyBytes) parsePolicyJson(policyBytes);
    const index = await loadChunkIndex(stickDir, { baseVersion: v });
    requireChunks(manifest.entries, index, "new base");
    if (boot) for (const f of [boot.kernel, boot.initrd]) requireChunks(f.entries, index, "boot files");
    if (current.template) requireChunks(current.template.entries, index, "user template");
    const reader = new PackReader(stickDir, manifest.chunkSize);
    try {
      for (const e of index.entries()) {
        const old = current.index.find(e.id);
        if (old !== undefined && old.pack === e.pack && old.offset === e.offset) continue;
        try {
          decodeChunk(secrets, e.id, reader.readRecord(e.id, e), manifest.chunkSize);
        } catch (err) {
          if (err instanceof ChunkDecodeError) throw new UpdateRefusedError(`chunk ${e.id.toString("hex")} at ${describeLocation(e)} is damaged or tampered: ${err.message}`);
          throw err;
        }
      }
    } finally {
      reader.close();
    }
    return { manifest, boot, policyBytes };
  });
}
