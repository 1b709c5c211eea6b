import { ED25519_PUBLIC_BYTES, ED25519_SIGNATURE_BYTES, signBytes, verifySignature, type SigningKeyPair } from "../src/crypto/signing.js";
import { ByteReader, ByteWriter, LayoutError } from "../src/util/bytes.js";
import { CHUNK_ID_BYTES, chunkSizeProblem, LINEAGE_ID_BYTES, MAX_MANIFEST_ENTRIES, SECTOR_BYTES } from "./format.js";

// A signed base manifest (FORMAT.md "Base manifest").
export const MANIFEST_MAGIC = Buffer.from("SVMMANI\0", "latin1");
export const MANIFEST_VERSION = 1;
const MANIFEST_HEAD_BYTES = 88;

/** The entry of an all-zero chunk: no real chunk id is 32 zero bytes (HMAC output, 2^-256). */
export const ZERO_CHUNK_ID = Buffer.alloc(CHUNK_ID_BYTES);

export interface Manifest {
  baseVersion: number;
  lineageId: Buffer;
  diskSize: number;
  chunkSize: number;
  createdMs: number;
  signerPublicKey: Buffer;
  /** entryCount × 32 bytes: chunk i's id, or ZERO_CHUNK_ID. */
  entries: Buffer;
}

export function entryCountFor(diskSize: number, chunkSize: number): number {
  return Math.ceil(diskSize / chunkSize);
}

export function manifestEntry(m: Manifest, index: number): Buffer {
  return m.entries.subarray(index * CHUNK_ID_BYTES, (index + 1) * CHUNK_ID_BYTES);
}

function signedPart(m: Manifest): Buffer {
  return new ByteWriter()
    .bytes(MANIFEST_MAGIC)
    .u16(MANIFEST_VERSION)
    .zeros(2)
    .u32(m.baseVersion)
    .bytes(m.lineageId)
    .u64(m.diskSize)
    .u32(m.chunkSize)
    .u32(entryCountFor(m.diskSize, m.chunkSize))
    .u64(m.createdMs)
    .bytes(m.signerPublicKey)
    .bytes(m.entries)
    .finish();
}

/** `body || Ed25519 signature over it`, by the key the body names as its signer. */
export function signedFile(body: Buffer, signer: Buffer, key: SigningKeyPair): Buffer {
  if (!signer.equals(key.publicKey)) throw new Error("manifest signer does not match the signing key");
  return Buffer.concat([body, signBytes(key, body)]);
}

/** Canonical bytes || ed25519 signature over them. */
export function encodeSignedManifest(m: Manifest, key: SigningKeyPair): Buffer {
  return signedFile(signedPart(m), m.signerPublicKey, key);
}

/** A parsed signed file (a manifest of this file or the boot manifest): its fields, and what the signature covers. */
export interface Signed<T extends { signerPublicKey: Buffer }> {
  manifest: T;
  signedBytes: Buffer;
  signature: Buffer;
}

export type ParsedManifest = Signed<Manifest>;

/** Bytes [0, 32) of a signed file of a base (a manifest, the boot manifest): magic, version, reserved, base version, lineage id. */
export function readSignedHead(r: ByteReader, magic: Buffer, version: number, what: string): { baseVersion: number; lineageId: Buffer } {
  r.expect(magic);
  const got = r.u16();
  if (got !== version) throw new LayoutError(`${what}: version ${got} is not supported`);
  r.zeros(2);
  return { baseVersion: r.u32(), lineageId: r.bytes(LINEAGE_ID_BYTES) };
}

export function parseManifest(buf: Buffer): ParsedManifest {
  const r = new ByteReader(buf, "base manifest");
  const { baseVersion, lineageId } = readSignedHead(r, MANIFEST_MAGIC, MANIFEST_VERSION, "base manifest");
  const diskSize = r.u64();
  const chunkSize = r.u32();
  const count = r.u32();
  const createdMs = r.u64();
  const signerPublicKey = r.bytes(ED25519_PUBLIC_BYTES);
  if (r.offset !== MANIFEST_HEAD_BYTES) throw new Error("manifest head layout");
  const problem = chunkSizeProblem(chunkSize);
  if (problem !== undefined) throw new LayoutError(`base manifest: ${problem}`);
  if (diskSize === 0 || diskSize % SECTOR_BYTES !== 0) throw new LayoutError(`base manifest: disk size ${diskSize} is not a positive multiple of ${SECTOR_BYTES}`);
  if (count > MAX_MANIFEST_ENTRIES) throw new LayoutError(`base manifest: ${count} entries, more than the ${MAX_MANIFEST_ENTRIES} a stick may have`);
  if (count !== entryCountFor(diskSize, chunkSize)) throw new LayoutError(`base manifest: ${count} entries do not cover ${diskSize} bytes`);
  if (r.remaining !== count * CHUNK_ID_BYTES + ED25519_SIGNATURE_BYTES) {
    throw new LayoutError(`base manifest is ${buf.length} bytes, expected ${MANIFEST_HEAD_BYTES + count * CHUNK_ID_BYTES + ED25519_SIGNATURE_BYTES}`);
  }
  const entries = r.bytes(count * CHUNK_ID_BYTES);
  const signature = r.bytes(ED25519_SIGNATURE_BYTES);
  return {
    manifest: { baseVersion, lineageId, diskSize, chunkSize, createdMs, signerPublicKey, entries },
    signedBytes: buf.subarray(0, buf.length - ED25519_SIGNATURE_BYTES),
    signature,
  };
}

/** True when the manifest was signed by the pinned key (and names that key as its signer). */
export function manifestSignedBy(parsed: Signed<{ signerPublicKey: Buffer }>, pinnedPublicKey: Uint8Array): boolean {
  return (
    parsed.manifest.signerPublicKey.equals(pinnedPublicKey) &&
    verifySignature(pinnedPublicKey, parsed.signedBytes, parsed.signature)
  );
}
