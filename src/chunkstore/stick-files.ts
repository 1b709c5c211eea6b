import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { ChunkIndex } from "../../stick-layout/chunk-index.js";
import { parseBootManifest, type BootManifest } from "../../stick-layout/boot-manifest.js";
import { bootManifestFileName, indexFileName, manifestFileName, STICK_FILES, UNPACK_MARKER, USER_TEMPLATE_BASE_VERSION, versionPolicyFileName } from "../../stick-layout/format.js";
import { HEADER_FILE_BYTES, headerMacValid, NewerFormatError, parseHeaderFile, type ParsedHeaderCopy, type StickHeader } from "../../stick-layout/header.js";
import { parseKeySlots, unlockSlots, type KeySlotsFile } from "../../stick-layout/keyslots.js";
import { manifestSignedBy, parseManifest, type Manifest, type Signed } from "../../stick-layout/manifest.js";
import type { StickSecrets } from "../../stick-layout/secrets.js";
import { sha256 } from "../crypto/hash.js";
import { CorruptStickError, fileError, IncompleteStickError, NewerFormatStickError, StickvmError, UsageError, WrongPassphraseError } from "../errors/errors.js";
import { LayoutError } from "../util/bytes.js";

// The steps of opening a stick, one function each, so that `verify` can run them one by one
// and report every fault while `openStick` stops at the first.

/** How a person unlocks a stick. */
export type Unlock = { passphrase: string } | { recoveryKey: Buffer };

/** Reads a file of the stick; a missing file is `missing()`. */
async function readStickFile(stickDir: string, name: string, missing: () => StickvmError): Promise<Buffer> {
  const path = join(stickDir, name);
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw missing();
    throw fileError(err, "read", path);
  }
}

/** A file that a stick with a header must have: its absence is damage, not an unfinished build. */
function lost(name: string): () => StickvmError {
  return () => new CorruptStickError(`${name} is missing`);
}

/** Whether `make-stick unpack`'s marker (§31) is in the folder: a header missing or torn beside it is an interrupted unpack. */
async function unpackInterrupted(stickDir: string): Promise<boolean> {
  try {
    await stat(join(stickDir, UNPACK_MARKER));
    return true;
  } catch {
    return false;
  }
}

/** The header copies that parse and pass their checksum (their MACs are checked once the stick is unlocked). */
export async function readHeaderCopies(stickDir: string): Promise<ParsedHeaderCopy[]> {
  try {
    if (!(await stat(stickDir)).isDirectory()) throw new UsageError(`${stickDir} is not a folder`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new UsageError(`no stick at ${stickDir}: the folder does not exist`);
    throw err;
  }
  const headerPath = join(stickDir, STICK_FILES.header);
  const unfinished = async (why: string): Promise<StickvmError> => {
    if (await unpackInterrupted(stickDir)) {
      return new IncompleteStickError(`${headerPath} ${why}: this folder is an unfinished unpack (${UNPACK_MARKER} is here: make-stick unpack was interrupted before it wrote the header, which it writes last); empty the folder and unpack again`);
    }
    return new IncompleteStickError(`${headerPath} ${why}: this folder is not a finished stick (the header is written last, so an interrupted build leaves none)`);
  };
  let file: Buffer;
  try {
    file = await readFile(headerPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw await unfinished("is missing");
    throw fileError(err, "read", headerPath);
  }
  if (file.length < HEADER_FILE_BYTES) throw await unfinished(`is only ${file.length} of ${HEADER_FILE_BYTES} bytes`);
  const copies = parseHeaderFile(file);
  const good = copies.filter((c): c is ParsedHeaderCopy => !(c instanceof LayoutError));
  if (good.length === 0) {
    const newer = copies.find((c) => c instanceof NewerFormatError);
    if (newer) throw new NewerFormatStickError(`this stick was made by a newer stickvm: ${newer.message}; update stickvm to use it`);
    const why = copies.map((c) => (c instanceof LayoutError ? c.message : "")).join("; ");
    const torn = (await unpackInterrupted(stickDir)) ? `; ${UNPACK_MARKER} is here: make-stick unpack was interrupted while writing the header, so empty the folder and unpack again` : "";
    throw new CorruptStickError(`the stick header is damaged (${why})${torn}`);
  }
  return good;
}

/** The key slots, and whether they came from keyslots.new because keyslots.bin is torn (an interrupted `stickvm passwd`, FORMAT.md §30). */
export interface KeySlotsRead {
  slots: KeySlotsFile;
  fromNext: boolean;
}

export async function readKeySlotsFile(stickDir: string): Promise<KeySlotsRead> {
  const buf = await readStickFile(stickDir, STICK_FILES.keyslots, lost(STICK_FILES.keyslots));
  try {
    return { slots: parseKeySlots(buf), fromNext: false };
  } catch (err) {
    if (!(err instanceof LayoutError)) throw err;
    const next = await readFile(join(stickDir, STICK_FILES.keyslotsNext)).catch(() => undefined);
    try {
      if (next !== undefined) return { slots: parseKeySlots(next), fromNext: true };
    } catch (nextErr) {
      if (!(nextErr instanceof LayoutError)) throw nextErr;
    }
    throw new CorruptStickError(err.message);
  }
}

export async function readKeySlots(stickDir: string): Promise<KeySlotsFile> {
  return (await readKeySlotsFile(stickDir)).slots;
}

/** Key slots copied from another stick would unlock, then fail the MAC; say what really happened. */
export function checkSlotsBelong(copies: ParsedHeaderCopy[], slots: KeySlotsFile): void {
  if (!copies.some((c) => c.header.stickId.equals(slots.stickId))) {
    throw new CorruptStickError(`${STICK_FILES.keyslots} belongs to another stick`);
  }
}

export async function unlock(slots: KeySlotsFile, how: Unlock): Promise<StickSecrets> {
  const secrets = await unlockSlots(slots, "passphrase" in how ? how.passphrase : how.recoveryKey);
  if (secrets === undefined) throw new WrongPassphraseError("passphrase" in how ? "passphrase" : "recovery key");
  return secrets;
}

/** The newest header copy whose MAC checks out under this stick's header MAC key. */
export function authenticHeader(copies: ParsedHeaderCopy[], secrets: StickSecrets, slots: KeySlotsFile): StickHeader {
  const valid = copies.filter((c) => headerMacValid(c, secrets.headerMacKey) && c.header.stickId.equals(slots.stickId)).map((c) => c.header);
  const newest = valid.sort((a, b) => b.sequence - a.sequence)[0];
  if (newest === undefined) {
    throw new CorruptStickError("the stick header fails its MAC: it was edited (for example its pinned admin key replaced) or damaged");
  }
  return newest;
}

/** Reads and parses a signed manifest, and checks it against the pinned admin key and the header's digest of it. */
export async function loadSignedManifest<T extends { signerPublicKey: Buffer }>(
  stickDir: string,
  name: string,
  parse: (buf: Buffer) => Signed<T>,
  pinnedKey: Buffer,
  digest: Buffer,
): Promise<T> {
  return signedFileOf(name, await readStickFile(stickDir, name, lost(name)), parse, pinnedKey, digest);
}

/** Parses a signed file's bytes and checks them against the pinned admin key and the digest that names them; CorruptStickError says which failed. */
export function signedFileOf<T extends { signerPublicKey: Buffer }>(name: string, buf: Buffer, parse: (buf: Buffer) => Signed<T>, pinnedKey: Buffer, digest: Buffer): T {
  let parsed;
  try {
    parsed = parse(buf);
  } catch (err) {
    if (err instanceof LayoutError) throw new CorruptStickError(`${name}: ${err.message}`);
    throw err;
  }
  if (!manifestSignedBy(parsed, pinnedKey)) {
    throw new CorruptStickError(`${name} is not signed by the admin key pinned in this stick's header`);
  }
  if (!sha256(buf).equals(digest)) {
    throw new CorruptStickError(`${name} is signed but is not the manifest this stick's header names (replaced or rolled back)`);
  }
  return parsed.manifest;
}

/** A manifest of this stick's base version and lineage (a base manifest or the boot manifest). */
function checkBaseVersion(name: string, m: { baseVersion: number; lineageId: Buffer }, header: StickHeader): void {
  if (m.baseVersion !== header.baseVersion || !m.lineageId.equals(header.lineageId)) {
    throw new CorruptStickError(`${name} belongs to another base version or lineage`);
  }
}

/** Loads the header's manifest and checks it against the header digest and the pinned admin key. */
export async function loadManifest(stickDir: string, header: StickHeader): Promise<Manifest> {
  const name = manifestFileName(header.baseVersion);
  const m = await loadSignedManifest(stickDir, name, parseManifest, header.adminPublicKey, header.manifestDigest);
  checkBaseVersion(name, m, header);
  return m;
}

/**
 * The user template's manifest when the header names one (format version 2), checked exactly
 * like the base manifest, and against the user disk size and the base's chunk size.
 */
export async function loadUserTemplate(stickDir: string, header: StickHeader, base: Manifest): Promise<Manifest | undefined> {
  if (header.userTemplateDigest === undefined) return undefined;
  const name = STICK_FILES.userTemplate;
  const m = await loadSignedManifest(stickDir, name, parseManifest, header.adminPublicKey, header.userTemplateDigest);
  if (m.baseVersion !== USER_TEMPLATE_BASE_VERSION || !m.lineageId.equals(header.lineageId)) {
    throw new CorruptStickError(`${name} is not a user template of this lineage`);
  }
  if (m.diskSize !== header.userDiskSize || m.chunkSize !== base.chunkSize) {
    throw new CorruptStickError(`${name} describes a ${m.diskSize}-byte disk in ${m.chunkSize}-byte chunks; the header's user disk is ${header.userDiskSize} bytes and the base's chunks ${base.chunkSize} bytes`);
  }
  return m;
}

/**
 * The boot manifest when the header names one (format version 3): checked like the base manifest
 * (it belongs to the same base version), and to use the base's chunk size.
 */
export async function loadBootManifest(stickDir: string, header: StickHeader, base: Manifest): Promise<BootManifest | undefined> {
  if (header.bootDigest === undefined) return undefined;
  const name = bootManifestFileName(header.baseVersion);
  const m = await loadSignedManifest(stickDir, name, parseBootManifest, header.adminPublicKey, header.bootDigest);
  checkBaseVersion(name, m, header);
  if (m.chunkSize !== base.chunkSize) throw new CorruptStickError(`${name} uses ${m.chunkSize}-byte chunks; the base's are ${base.chunkSize} bytes`);
  return m;
}

export async function loadChunkIndex(stickDir: string, header: Pick<StickHeader, "baseVersion">): Promise<ChunkIndex> {
  const name = indexFileName(header.baseVersion);
  const buf = await readStickFile(stickDir, name, lost(name));
  try {
    return ChunkIndex.parse(buf);
  } catch (err) {
    if (err instanceof LayoutError) throw new CorruptStickError(`${name}: ${err.message}`);
    throw err;
  }
}

/** A file's bytes, or undefined when it does not exist. */
async function readIfPresent(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw fileError(err, "read", path);
  }
}

/**
 * policy.json's bytes, checked against the digest in the authenticated header (all zeros:
 * the stick has no policy, and then there must be no file). A base update that brought a
 * policy leaves it in base/policy-<base version>.json (§27.3), read when policy.json does not
 * match. CorruptStickError when neither matches.
 */
export async function loadPolicyBytes(stickDir: string, header: StickHeader): Promise<Buffer | undefined> {
  const none = header.policyDigest.every((b) => b === 0);
  const buf = await readIfPresent(join(stickDir, STICK_FILES.policy));
  if (none) {
    if (buf !== undefined) throw new CorruptStickError(`${STICK_FILES.policy} is present but the header names no policy`);
    return undefined;
  }
  if (buf !== undefined && sha256(buf).equals(header.policyDigest)) return buf;
  const updated = header.baseVersion > 1 ? await readIfPresent(join(stickDir, versionPolicyFileName(header.baseVersion))) : undefined;
  if (updated !== undefined && sha256(updated).equals(header.policyDigest)) return updated;
  if (buf === undefined) throw new CorruptStickError(`${STICK_FILES.policy} is missing`);
  throw new CorruptStickError(`${STICK_FILES.policy} does not match the digest in the header (edited)`);
}
