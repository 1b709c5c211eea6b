import { equalBytes, hmacSha256, sha256 } from "../src/crypto/hash.js";
import { ED25519_PUBLIC_BYTES } from "../src/crypto/signing.js";
import { ByteReader, ByteWriter, LayoutError } from "../src/util/bytes.js";
import { DIGEST_BYTES, FORMAT_VERSION, FORMAT_VERSION_BOOT, FORMAT_VERSION_USER_TEMPLATE, LINEAGE_ID_BYTES, NEWEST_FORMAT_VERSION, SECTOR_BYTES, STICK_ID_BYTES } from "./format.js";

// The stick header (FORMAT.md "Stick header", §21.3 for version 2, §23.3 for version 3): two 4096-byte copies in stick.hdr.
export const HEADER_MAGIC = Buffer.from("STICKVM\0", "latin1");
export const HEADER_COPY_BYTES = 4096;
export const HEADER_FILE_BYTES = 2 * HEADER_COPY_BYTES;
const MAC_OFFSET = 176;
const CHECKSUM_OFFSET = MAC_OFFSET + DIGEST_BYTES;
const USED_BYTES = CHECKSUM_OFFSET + DIGEST_BYTES;
const ZERO_DIGEST = Buffer.alloc(DIGEST_BYTES);
/**
 * The digests a version adds after the version-1 bytes, covered by the MAC and followed by a
 * checksum of everything before it: v2 the user template's; v3 the user template's (zeros: none)
 * and the boot manifest's.
 */
const EXTENSION_DIGESTS: Record<number, readonly string[]> = {
  [FORMAT_VERSION]: [],
  [FORMAT_VERSION_USER_TEMPLATE]: ["user template"],
  [FORMAT_VERSION_BOOT]: ["user template", "boot"],
};

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
  /** SHA-256 of the user template's manifest file; only in format versions 2 and 3. */
  userTemplateDigest?: Buffer;
  /** SHA-256 of the boot manifest file; present exactly when the format version is 3. */
  bootDigest?: Buffer;
}

/** The format version a header must carry: 3 when it names boot files, else 2 when it names a user template, else 1. */
export function formatVersionFor(names: { userTemplate: boolean; boot: boolean }): number {
  if (names.boot) return FORMAT_VERSION_BOOT;
  return names.userTemplate ? FORMAT_VERSION_USER_TEMPLATE : FORMAT_VERSION;
}

/** The extension digests of a header, in their order on the stick. */
function extensionDigests(h: StickHeader): Buffer[] {
  switch (h.formatVersion) {
    case FORMAT_VERSION_USER_TEMPLATE:
      return [h.userTemplateDigest ?? ZERO_DIGEST];
    case FORMAT_VERSION_BOOT:
      return [h.userTemplateDigest ?? ZERO_DIGEST, h.bootDigest ?? ZERO_DIGEST];
    default:
      return [];
  }
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
 * One 4096-byte copy: body || MAC || checksum || zero padding; in versions 2 and 3,
 * body || MAC || checksum || extension digests || checksum of all that || zero padding.
 */
export function encodeHeaderCopy(h: StickHeader, macKey: Uint8Array): Buffer {
  const expected = formatVersionFor({ userTemplate: h.userTemplateDigest !== undefined, boot: h.bootDigest !== undefined });
  if (h.formatVersion !== expected) throw new Error(`a header with these digests is format version ${expected}, not ${h.formatVersion}`);
  const b = body(h);
  if (b.length !== MAC_OFFSET) throw new Error(`header body is ${b.length} bytes, expected ${MAC_OFFSET}`);
  const extension = Buffer.concat(extensionDigests(h));
  const withMac = Buffer.concat([b, hmacSha256(macKey, Buffer.concat([b, extension]))]);
  const used = Buffer.concat([withMac, sha256(withMac), extension]);
  const out = Buffer.alloc(HEADER_COPY_BYTES);
  Buffer.concat(extension.length === 0 ? [used] : [used, sha256(used)]).copy(out);
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
  const digestNames = EXTENSION_DIGESTS[formatVersion];
  if (digestNames === undefined) throw new LayoutError(`stick header: format version ${formatVersion} is not supported`);
  const extensionEnd = USED_BYTES + digestNames.length * DIGEST_BYTES;
  if (digestNames.length > 0 && !sha256(copy.subarray(0, extensionEnd)).equals(copy.subarray(extensionEnd, extensionEnd + DIGEST_BYTES))) {
    throw new LayoutError(`stick header: checksum mismatch (${digestNames.join(" and ")} digest${digestNames.length > 1 ? "s" : ""})`);
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
  readExtension(r, header);
  if (digestNames.length > 0) r.bytes(DIGEST_BYTES); // the extension checksum, checked above
  r.zeros(HEADER_COPY_BYTES - r.offset);
  for (const [name, size] of [["user disk size", header.userDiskSize], ["local disk size", header.localDiskSize]] as const) {
    if (size % SECTOR_BYTES !== 0) throw new LayoutError(`stick header: ${name} ${size} is not a multiple of ${SECTOR_BYTES}`);
  }
  return { header, mac, macked: Buffer.concat([copy.subarray(0, MAC_OFFSET), copy.subarray(USED_BYTES, extensionEnd)]) };
}

/** The extension digests into the header: in version 3 a zero template digest means none, and boot files are required. */
function readExtension(r: ByteReader, header: StickHeader): void {
  if (header.formatVersion === FORMAT_VERSION_USER_TEMPLATE) header.userTemplateDigest = r.bytes(DIGEST_BYTES);
  if (header.formatVersion !== FORMAT_VERSION_BOOT) return;
  const template = r.bytes(DIGEST_BYTES);
  if (!template.equals(ZERO_DIGEST)) header.userTemplateDigest = template;
  header.bootDigest = r.bytes(DIGEST_BYTES);
  if (header.bootDigest.equals(ZERO_DIGEST)) throw new LayoutError("stick header: a version-3 header must name boot files");
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
