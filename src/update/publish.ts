import { copyFile, mkdir, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { bootManifestFileName, indexFileName, manifestFileName, packFileName, STICK_FILES, versionPolicyFileName } from "../../stick-layout/format.js";
import { parseBootManifest } from "../../stick-layout/boot-manifest.js";
import { ChunkIndex } from "../../stick-layout/chunk-index.js";
import { parseManifest } from "../../stick-layout/manifest.js";
import { encodeRelease, type NamedFile } from "../../stick-layout/release.js";
import { encodeRevocationList } from "../../stick-layout/revocation.js";
import { lineageIdFor } from "../../stick-layout/secrets.js";
import { readSigningKey } from "../admin/signing-key.js";
import { loadPolicyBytes, loadSignedManifest, readHeaderCopies } from "../chunkstore/stick-files.js";
import { sha256 } from "../crypto/hash.js";
import { BadKeyFileError, fileError, StickvmError, UsageError } from "../errors/errors.js";
import { LayoutError } from "../util/bytes.js";
import { syncFolder, writeNewFileDurably } from "../util/durable-file.js";
import { findStagedRelease } from "./staged-release.js";

/** The files of an update repository (FORMAT.md §28.1), relative to its root. */
export const REPOSITORY_FILES = { release: "release.bin", revoked: "revoked.bin" } as const;

export interface PublishOptions {
  stick: string;
  out: string;
  signingKey: string;
  lineage: string;
  /** Stick ids (32 hex digits) whose launchers must refuse to start. */
  revoke: string[];
}

export interface PublishResult {
  version: number;
  files: number;
  bytes: number;
}

function stickId(hex: string): Buffer {
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new UsageError(`--revoke ${hex} is not a stick id (32 hex digits, as make-stick info prints it)`);
  return Buffer.from(hex, "hex");
}

async function emptyFolder(out: string): Promise<void> {
  await mkdir(out, { recursive: true }).catch((err: unknown) => { throw fileError(err, "create", out); });
  const entries = await readdir(out);
  if (entries.length > 0) throw new StickvmError("OUTPUT_NOT_EMPTY", `${out} is not empty (${entries.length} entries); make-stick publish writes a repository into a new or empty folder`);
}

/**
 * `make-stick publish`: the newest base version of an admin's stick (a staged one, else the one in
 * use) as a static update repository (FORMAT.md §28): its manifest, boot manifest, policy, index
 * and the packs that index names, byte for byte; the signed revocation list; and, last, a release
 * record signed now that names that version's files and its policy, so a stick of the lineage
 * fetches only what it lacks and a changed policy reaches it with the base.
 */
export async function publishRepository(o: PublishOptions): Promise<PublishResult> {
  const revoked = o.revoke.map(stickId);
  const signing = await readSigningKey(o.signingKey);
  try {
    const header = (await readHeaderCopies(o.stick)).map((c) => c.header).sort((a, b) => b.sequence - a.sequence)[0];
    if (header === undefined) throw new Error("unreachable: readHeaderCopies returns at least one copy");
    if (!header.adminPublicKey.equals(signing.publicKey)) throw new BadKeyFileError(o.signingKey, "this stick's header pins another admin key");
    if (!lineageIdFor(signing.publicKey, o.lineage).equals(header.lineageId)) throw new UsageError(`this stick is not of lineage "${o.lineage}": pass the --lineage it was built with`);
    const staged = (await findStagedRelease(o.stick, header)).release;
    const version = staged?.baseVersion ?? header.baseVersion;
    const manifestDigest = staged?.manifest.digest ?? header.manifestDigest;
    const bootDigest = staged ? staged.boot?.digest : header.bootDigest;
    await loadSignedManifest(o.stick, manifestFileName(version), parseManifest, header.adminPublicKey, manifestDigest);
    if (bootDigest) await loadSignedManifest(o.stick, bootManifestFileName(version), parseBootManifest, header.adminPublicKey, bootDigest);
    const policy = staged?.policy ? await readFile(join(o.stick, versionPolicyFileName(version))) : await loadPolicyBytes(o.stick, header);
    let index: ChunkIndex;
    try {
      index = ChunkIndex.parse(await readFile(join(o.stick, indexFileName(version))));
    } catch (err) {
      if (err instanceof LayoutError) throw new UsageError(`${indexFileName(version)}: ${err.message}`);
      throw fileError(err, "read", join(o.stick, indexFileName(version)));
    }
    await emptyFolder(o.out);
    await mkdir(join(o.out, STICK_FILES.baseDir));
    await mkdir(join(o.out, STICK_FILES.chunksDir));
    const result: PublishResult = { version, files: 0, bytes: 0 };
    const copied = async (name: string): Promise<NamedFile> => {
      await copyFile(join(o.stick, name), join(o.out, name));
      const bytes = await readFile(join(o.out, name));
      result.files += 1;
      result.bytes += bytes.length;
      return { digest: sha256(bytes), size: bytes.length };
    };
    for (const pack of new Set([...index.entries()].map((e) => e.pack))) {
      await copyFile(join(o.stick, packFileName(pack)), join(o.out, packFileName(pack)));
      result.files += 1;
      result.bytes += (await stat(join(o.out, packFileName(pack)))).size;
    }
    await copied(indexFileName(version));
    const manifest = await copied(manifestFileName(version));
    const boot = bootDigest && (await copied(bootManifestFileName(version)));
    let policyFile: NamedFile | undefined;
    if (policy) {
      await writeNewFileDurably(join(o.out, versionPolicyFileName(version)), policy);
      policyFile = { digest: sha256(policy), size: policy.length };
      result.files += 1;
      result.bytes += policy.length;
    }
    const createdMs = Date.now();
    const write = async (name: string, bytes: Buffer): Promise<void> => {
      await writeNewFileDurably(join(o.out, name), bytes);
      result.files += 1;
      result.bytes += bytes.length;
    };
    await write(REPOSITORY_FILES.revoked, encodeRevocationList({ lineageId: header.lineageId, createdMs, signerPublicKey: signing.publicKey, stickIds: revoked }, signing));
    await syncFolder(join(o.out, STICK_FILES.chunksDir));
    await syncFolder(join(o.out, STICK_FILES.baseDir));
    // last: a client that sees the release finds every file it names
    await write(REPOSITORY_FILES.release, encodeRelease({ baseVersion: version, lineageId: header.lineageId, createdMs, signerPublicKey: signing.publicKey, manifest, ...(boot ? { boot } : {}), ...(policyFile ? { policy: policyFile } : {}) }, signing));
    await syncFolder(o.out);
    return result;
  } finally {
    signing.seed.fill(0);
  }
}
