import { ED25519_PUBLIC_BYTES, ED25519_SIGNATURE_BYTES, signBytes, verifySignature, type SigningKeyPair } from "../src/crypto/signing.js";
import { ByteReader, ByteWriter, LayoutError } from "../src/util/bytes.js";
import { DIGEST_BYTES, LINEAGE_ID_BYTES } from "./format.js";

// A release record (FORMAT.md §27.1): what the admin signs to name one base version's files by
// digest. Staged on a stick by `make-stick update`, published in an update repository (§28).
export const RELEASE_MAGIC = Buffer.from("SVMRELS\0", "latin1");
export const RELEASE_VERSION = 1;
const SIGNED_BYTES = 192;
export const RELEASE_BYTES = SIGNED_BYTES + ED25519_SIGNATURE_BYTES;
const ZERO_DIGEST = Buffer.alloc(DIGEST_BYTES);

/** A signed file named by its SHA-256 and exact length. */
export interface NamedFile {
  digest: Buffer;
  size: number;
}

export interface Release {
  baseVersion: number;
  lineageId: Buffer;
  createdMs: number;
  signerPublicKey: Buffer;
  manifest: NamedFile;
  /** The boot manifest of this base version; absent: it boots from its system disk. */
  boot?: NamedFile;
  /** The policy this version brings; absent: the stick keeps the policy it has. */
  policy?: NamedFile;
}

function named(w: ByteWriter, f: NamedFile | undefined): void {
  w.bytes(f?.digest ?? ZERO_DIGEST).u64(f?.size ?? 0);
}

export function encodeRelease(r: Release, key: SigningKeyPair): Buffer {
  if (!r.signerPublicKey.equals(key.publicKey)) throw new Error("release signer does not match the signing key");
  const w = new ByteWriter().bytes(RELEASE_MAGIC).u16(RELEASE_VERSION).zeros(2).u32(r.baseVersion).bytes(r.lineageId).u64(r.createdMs).bytes(r.signerPublicKey);
  named(w, r.manifest);
  named(w, r.boot);
  named(w, r.policy);
  const body = w.finish();
  if (body.length !== SIGNED_BYTES) throw new Error(`release body is ${body.length} bytes, expected ${SIGNED_BYTES}`);
  return Buffer.concat([body, signBytes(key, body)]);
}

function readNamed(r: ByteReader, what: string, optional: boolean): NamedFile | undefined {
  const digest = r.bytes(DIGEST_BYTES);
  const size = r.u64();
  if (digest.equals(ZERO_DIGEST)) {
    if (size !== 0 || !optional) throw new LayoutError(`release record: ${optional ? `no ${what} but a size of ${size}` : `it names no ${what}`}`);
    return undefined;
  }
  if (size === 0) throw new LayoutError(`release record: an empty ${what}`);
  return { digest, size };
}

/** Parses a release record; checks its layout, not its signature (`releaseSignedBy`). */
export function parseRelease(buf: Buffer): { release: Release; signedBytes: Buffer; signature: Buffer } {
  if (buf.length !== RELEASE_BYTES) throw new LayoutError(`release record is ${buf.length} bytes, expected ${RELEASE_BYTES}`);
  const r = new ByteReader(buf, "release record");
  r.expect(RELEASE_MAGIC);
  const version = r.u16();
  if (version !== RELEASE_VERSION) throw new LayoutError(`release record: version ${version} is not supported`);
  r.zeros(2);
  const baseVersion = r.u32();
  if (baseVersion < 1) throw new LayoutError("release record: base version 0");
  const lineageId = r.bytes(LINEAGE_ID_BYTES);
  const createdMs = r.u64();
  const signerPublicKey = r.bytes(ED25519_PUBLIC_BYTES);
  const manifest = readNamed(r, "manifest", false);
  if (manifest === undefined) throw new Error("unreachable: a release always names a manifest");
  const boot = readNamed(r, "boot manifest", true);
  const policy = readNamed(r, "policy", true);
  const release: Release = { baseVersion, lineageId, createdMs, signerPublicKey, manifest, ...(boot ? { boot } : {}), ...(policy ? { policy } : {}) };
  return { release, signedBytes: buf.subarray(0, SIGNED_BYTES), signature: buf.subarray(SIGNED_BYTES) };
}

/** True when the record's signer is `pinned` and its signature verifies. */
export function releaseSignedBy(parsed: ReturnType<typeof parseRelease>, pinned: Uint8Array): boolean {
  return parsed.release.signerPublicKey.equals(pinned) && verifySignature(pinned, parsed.signedBytes, parsed.signature);
}
