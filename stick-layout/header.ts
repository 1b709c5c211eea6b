import { equalBytes, hmacSha256, sha256 } from "../src/crypto/hash.js";
import { ED25519_PUBLIC_BYTES } from "../src/crypto/signing.js";
import { ByteReader, ByteWriter, LayoutError } from "../src/util/bytes.js";
import { DIGEST_BYTES, FORMAT_VERSION, FORMAT_VERSION_USER_TEMPLATE, LINEAGE_ID_BYTES, NEWEST_FORMAT_VERSION, SECTOR_BYTES, STICK_ID_BYTES } from "./format.js";

// The stick header (FORMAT.md "Stick header", and §21.3 for version 2): two 4096-byte copies in stick.hdr.
export const HEADER_MAGIC = Buffer.from("STICKVM\0", "latin1");
export const HEADER_COPY_BYTES = 4096;
export const HEADER_FILE_BYTES = 2 * HEADER_COPY_BYTES;
const MAC_OFFSET = 176;
const CHECKSUM_OFFSET = MAC_OFFSET + DIGEST_BYTES;
const USED_BYTES = CHECKSUM_OFFSET + DIGEST_BYTES;
// Version 2 adds, after the version-1 bytes: the user template digest (covered by the MAC) and a checksum of everything before it.
const TEMPLATE_DIGEST_OFFSET = USED_BYTES;
const EXTENSION_CHECKSUM_OFFSET = TEMPLATE_DIGEST_OFFSET + DIGEST_BYTES;
const USED_BYTES_V2 = EXTENSION_CHECKSUM_OFFSET + DIGEST_BYTES;

/** A header of a later format version: the stick is not damaged, this stickvm is too old. */
export class NewerFormatError extends LayoutError {
  constructor(version: number) {
    super(`its format version is ${version}; this stickvm reads versions ${FORMAT_VERSION} to ${NEWEST_FORMAT_VERSION}`);
  }
}

export interface StickHeader {
  formatVersion: number;
  sequence: number;
  stickId: Buffer;
  lineageId: Buffer;
  adminPublicKey: Buffer;
  /** SHA-256 of policy.json, or 32 zero bytes when the stick has no policy file. */
  policyDigest: Buffer;
  baseVersion: number;
  userDiskSize: number;
  localDiskSize: number;
  createdMs: number;
  /** SHA-256 of the current base manifest file: a stick cannot be rolled back to an older signed manifest. */
  manifestDigest: Buffer;
  /** SHA-256 of the user template's manifest file; present exactly when the format version is 2. */
  userTemplateDigest?: Buffer;
}

/** The format version a header must carry: 2 when it names a user template, else 1. */
export function formatVersionFor(hasUserTemplate: boolean): number {
  return hasUserTemplate ? FORMAT_VERSION_USER_TEMPLATE : FORMAT_VERSION;
}

/** What the MAC covers: the body, and in version 2 also the user template digest. */
function macInput(body: Buffer, templateDigest: Buffer | undefined): Buffer {
  return templateDigest === undefined ? body : Buffer.concat([body, templateDigest]);
}

function body(h: StickHeader): Buffer {
  return new ByteWriter()
    .bytes(HEADER_MAGIC)
    .u16(h.formatVersion)
    .zeros(2)
    .u32(h.sequence)
    .bytes(h.stickId)
    .bytes(h.lineageId)
    .bytes(h.adminPublicKey)
    .bytes(h.policyDigest)
    .u32(h.baseVersion)
    .zeros(4)
    .u64(h.userDiskSize)
    .u64(h.localDiskSize)
    .u64(h.createdMs)
    .bytes(h.manifestDigest)
    .finish();
}

/**
 * One 4096-byte copy: body || MAC || checksum || zero padding; in version 2,
 * body || MAC || checksum || user template digest || checksum of all that || zero padding.
 */
export function encodeHeaderCopy(h: StickHeader, macKey: Uint8Array): Buffer {
  if (h.formatVersion !== formatVersionFor(h.userTemplateDigest !== undefined)) {
    throw new Error(`a header of format version ${h.formatVersion} ${h.userTemplateDigest === undefined ? "must" : "cannot"} name a user template`);
  }
  const b = body(h);
  if (b.length !== MAC_OFFSET) throw new Error(`header body is ${b.length} bytes, expected ${MAC_OFFSET}`);
  const withMac = Buffer.concat([b, hmacSha256(macKey, macInput(b, h.userTemplateDigest))]);
  const out = Buffer.alloc(HEADER_COPY_BYTES);
  Buffer.concat([withMac, sha256(withMac)]).copy(out);
  if (h.userTemplateDigest !== undefined) {
    h.userTemplateDigest.copy(out, TEMPLATE_DIGEST_OFFSET);
    sha256(out.subarray(0, EXTENSION_CHECKSUM_OFFSET)).copy(out, EXTENSION_CHECKSUM_OFFSET);
  }
  return out;
}

export interface ParsedHeaderCopy {
  header: StickHeader;
  mac: Buffer;
  macked: Buffer;
}

/** Parses one copy; checks magic, checksum, version and padding, not the MAC (that needs the key). */
export function parseHeaderCopy(copy: Buffer): ParsedHeaderCopy {
  const r = new ByteReader(copy, "stick header");
  r.expect(HEADER_MAGIC);
  // the checksum first, so a damaged version field reads as damage, not as a newer format
  if (copy.length !== HEADER_COPY_BYTES || !sha256(copy.subarray(0, CHECKSUM_OFFSET)).equals(copy.subarray(CHECKSUM_OFFSET, USED_BYTES))) {
    throw new LayoutError("stick header: checksum mismatch");
  }
  const formatVersion = r.u16();
  if (formatVersion > NEWEST_FORMAT_VERSION) throw new NewerFormatError(formatVersion);
  if (formatVersion < FORMAT_VERSION) throw new LayoutError(`stick header: format version ${formatVersion} is not supported`);
  const hasTemplate = formatVersion === FORMAT_VERSION_USER_TEMPLATE;
  if (hasTemplate && !sha256(copy.subarray(0, EXTENSION_CHECKSUM_OFFSET)).equals(copy.subarray(EXTENSION_CHECKSUM_OFFSET, USED_BYTES_V2))) {
    throw new LayoutError("stick header: checksum mismatch (user template digest)");
  }
  r.zeros(2);
  const sequence = r.u32();
  const stickId = r.bytes(STICK_ID_BYTES);
  const lineageId = r.bytes(LINEAGE_ID_BYTES);
  const adminPublicKey = r.bytes(ED25519_PUBLIC_BYTES);
  const policyDigest = r.bytes(DIGEST_BYTES);
  const baseVersion = r.u32();
  r.zeros(4);
  const header: StickHeader = {
    formatVersion,
    sequence,
    stickId,
    lineageId,
    adminPublicKey,
    policyDigest,
    baseVersion,
    userDiskSize: r.u64(),
    localDiskSize: r.u64(),
    createdMs: r.u64(),
    manifestDigest: r.bytes(DIGEST_BYTES),
  };
  const mac = r.bytes(DIGEST_BYTES);
  r.bytes(DIGEST_BYTES); // the checksum, checked above
  if (hasTemplate) {
    header.userTemplateDigest = r.bytes(DIGEST_BYTES);
    r.bytes(DIGEST_BYTES); // the extension checksum, checked above
  }
  r.zeros(HEADER_COPY_BYTES - r.offset);
  for (const [name, size] of [["user disk size", header.userDiskSize], ["local disk size", header.localDiskSize]] as const) {
    if (size % SECTOR_BYTES !== 0) throw new LayoutError(`stick header: ${name} ${size} is not a multiple of ${SECTOR_BYTES}`);
  }
  return { header, mac, macked: macInput(copy.subarray(0, MAC_OFFSET), header.userTemplateDigest) };
}

export function headerMacValid(parsed: ParsedHeaderCopy, macKey: Uint8Array): boolean {
  return equalBytes(hmacSha256(macKey, parsed.macked), parsed.mac);
}

/** Both copies, each parsed or the reason it could not be. */
export function parseHeaderFile(file: Buffer): (ParsedHeaderCopy | LayoutError)[] {
  if (file.length !== HEADER_FILE_BYTES) {
    return [new LayoutError(`stick header file is ${file.length} bytes, expected ${HEADER_FILE_BYTES}`)];
  }
  return [0, 1].map((i) => {
    try {
      return parseHeaderCopy(file.subarray(i * HEADER_COPY_BYTES, (i + 1) * HEADER_COPY_BYTES));
    } catch (err) {
      if (err instanceof LayoutError) return err;
      throw err;
    }
  });
}
