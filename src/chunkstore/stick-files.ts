import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { ChunkIndex } from "../../stick-layout/chunk-index.js";
import { indexFileName, manifestFileName, STICK_FILES } from "../../stick-layout/format.js";
import { headerMacValid, parseHeaderFile, type ParsedHeaderCopy, type StickHeader } from "../../stick-layout/header.js";
import { parseKeySlots, unlockSlots, type KeySlotsFile } from "../../stick-layout/keyslots.js";
import { manifestSignedBy, parseManifest, type Manifest } from "../../stick-layout/manifest.js";
import type { StickSecrets } from "../../stick-layout/secrets.js";
import { sha256 } from "../crypto/hash.js";
import { CorruptStickError, fileError, IncompleteStickError, UsageError, WrongPassphraseError } from "../errors/errors.js";
import { LayoutError } from "../util/bytes.js";

// The steps of opening a stick, one function each, so that `verify` can run them one by one
// and report every fault while `openStick` stops at the first.

/** How a person unlocks a stick. */
export type Unlock = { passphrase: string } | { recoveryKey: Buffer };

async function readStickFile(stickDir: string, name: string, what: string): Promise<Buffer> {
  const path = join(stickDir, name);
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new IncompleteStickError(`${path} is missing: ${what} (was the build interrupted?)`);
    }
    throw fileError(err, "read", path);
  }
}

export async function readHeaderCopies(stickDir: string): Promise<ParsedHeaderCopy[]> {
  try {
    if (!(await stat(stickDir)).isDirectory()) throw new UsageError(`${stickDir} is not a folder`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new UsageError(`no stick at ${stickDir}: the folder does not exist`);
    throw err;
  }
  const file = await readStickFile(
    stickDir,
    STICK_FILES.header,
    "this folder is not a finished stick; the header is written last, so a build that did not finish leaves none",
  );
  const copies = parseHeaderFile(file);
  const good = copies.filter((c): c is ParsedHeaderCopy => !(c instanceof LayoutError));
  if (good.length === 0) {
    const why = copies.map((c) => (c instanceof LayoutError ? c.message : "")).join("; ");
    throw new CorruptStickError(`the stick header is damaged (${why})`);
  }
  return good;
}

export async function readKeySlots(stickDir: string): Promise<KeySlotsFile> {
  const buf = await readStickFile(stickDir, STICK_FILES.keyslots, "the key slots");
  try {
    return parseKeySlots(buf);
  } catch (err) {
    if (err instanceof LayoutError) throw new CorruptStickError(err.message);
    throw err;
  }
}

export async function unlock(slots: KeySlotsFile, how: Unlock): Promise<StickSecrets> {
  const secrets = await unlockSlots(slots, "passphrase" in how ? how.passphrase : how.recoveryKey);
  if (secrets === undefined) throw new WrongPassphraseError("passphrase" in how ? "passphrase" : "recovery key");
  return secrets;
}

/** The newest header copy whose MAC checks out under this stick's header MAC key. */
export function authenticHeader(copies: ParsedHeaderCopy[], secrets: StickSecrets, slots: KeySlotsFile): StickHeader {
  const valid = copies.filter((c) => headerMacValid(c, secrets.headerMacKey)).map((c) => c.header);
  const newest = valid.sort((a, b) => b.sequence - a.sequence)[0];
  if (newest === undefined) {
    throw new CorruptStickError("the stick header fails its MAC: it was edited (for example its pinned admin key replaced) or damaged");
  }
  if (!newest.stickId.equals(slots.stickId)) throw new CorruptStickError("the key slots belong to another stick");
  return newest;
}

/** Loads the header's manifest and checks it against the header digest and the pinned admin key. */
export async function loadManifest(stickDir: string, header: StickHeader): Promise<Manifest> {
  const name = manifestFileName(header.baseVersion);
  const buf = await readStickFile(stickDir, name, `the base manifest version ${header.baseVersion}`);
  let parsed;
  try {
    parsed = parseManifest(buf);
  } catch (err) {
    if (err instanceof LayoutError) throw new CorruptStickError(`${name}: ${err.message}`);
    throw err;
  }
  if (!manifestSignedBy(parsed, header.adminPublicKey)) {
    throw new CorruptStickError(`${name} is not signed by the admin key pinned in this stick's header`);
  }
  if (!sha256(buf).equals(header.manifestDigest)) {
    throw new CorruptStickError(`${name} is signed but is not the manifest this stick's header names (replaced or rolled back)`);
  }
  const m = parsed.manifest;
  if (m.baseVersion !== header.baseVersion || !m.lineageId.equals(header.lineageId)) {
    throw new CorruptStickError(`${name} belongs to another base version or lineage`);
  }
  return m;
}

export async function loadChunkIndex(stickDir: string, header: StickHeader): Promise<ChunkIndex> {
  const name = indexFileName(header.baseVersion);
  const buf = await readStickFile(stickDir, name, "the chunk index");
  try {
    return ChunkIndex.parse(buf);
  } catch (err) {
    if (err instanceof LayoutError) throw new CorruptStickError(`${name}: ${err.message}`);
    throw err;
  }
}

/** Checks policy.json against the digest in the header (all zeros: the stick has no policy). */
export async function policyProblem(stickDir: string, header: StickHeader): Promise<string | undefined> {
  const none = header.policyDigest.every((b) => b === 0);
  let buf: Buffer | undefined;
  try {
    buf = await readFile(join(stickDir, STICK_FILES.policy));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw fileError(err, "read", join(stickDir, STICK_FILES.policy));
  }
  if (none) return buf === undefined ? undefined : `${STICK_FILES.policy} is present but the header names no policy`;
  if (buf === undefined) return `${STICK_FILES.policy} is missing`;
  return sha256(buf).equals(header.policyDigest) ? undefined : `${STICK_FILES.policy} does not match the digest in the header (edited)`;
}
