import { ED25519_PUBLIC_BYTES, ED25519_SIGNATURE_BYTES, signBytes, verifySignature, type SigningKeyPair } from "../src/crypto/signing.js";
import { ByteReader, ByteWriter, LayoutError } from "../src/util/bytes.js";
import { LINEAGE_ID_BYTES, STICK_ID_BYTES } from "./format.js";

// The revocation list of an update repository (FORMAT.md §28.2): stick ids the admin revoked, signed.
export const REVOCATION_MAGIC = Buffer.from("SVMREVK\0", "latin1");
export const REVOCATION_VERSION = 1;
const HEAD_BYTES = 72;
/** A bound on what a reader accepts: a million sticks are 16 MB. */
export const MAX_REVOKED = 1024 * 1024;

export interface RevocationList {
  lineageId: Buffer;
  createdMs: number;
  signerPublicKey: Buffer;
  /** Revoked stick ids, sorted, each once. */
  stickIds: Buffer[];
}

export function encodeRevocationList(l: RevocationList, key: SigningKeyPair): Buffer {
  const ids = [...new Map(l.stickIds.map((id) => [id.toString("hex"), id])).values()].sort((a, b) => Buffer.compare(a, b));
  const w = new ByteWriter().bytes(REVOCATION_MAGIC).u16(REVOCATION_VERSION).zeros(2).u32(ids.length).bytes(l.lineageId).u64(l.createdMs).bytes(key.publicKey);
  for (const id of ids) {
    if (id.length !== STICK_ID_BYTES) throw new Error("a stick id is 16 bytes");
    w.bytes(id);
  }
  const body = w.finish();
  return Buffer.concat([body, signBytes(key, body)]);
}

/**
 * Parses a revocation list and checks it against what the stick trusts: signed by its pinned
 * admin key, for its lineage. LayoutError says what is wrong.
 */
export function parseRevocationList(buf: Buffer, pinned: Uint8Array, lineageId: Uint8Array): RevocationList {
  const r = new ByteReader(buf, "revocation list");
  r.expect(REVOCATION_MAGIC);
  const version = r.u16();
  if (version !== REVOCATION_VERSION) throw new LayoutError(`revocation list: version ${version} is not supported`);
  r.zeros(2);
  const count = r.u32();
  if (count > MAX_REVOKED) throw new LayoutError(`revocation list: ${count} ids, more than the ${MAX_REVOKED} a reader takes`);
  const listLineage = r.bytes(LINEAGE_ID_BYTES);
  const createdMs = r.u64();
  const signerPublicKey = r.bytes(ED25519_PUBLIC_BYTES);
  if (buf.length !== HEAD_BYTES + count * STICK_ID_BYTES + ED25519_SIGNATURE_BYTES) throw new LayoutError(`revocation list is ${buf.length} bytes, expected ${HEAD_BYTES + count * STICK_ID_BYTES + ED25519_SIGNATURE_BYTES}`);
  const signed = buf.subarray(0, HEAD_BYTES + count * STICK_ID_BYTES);
  if (!signerPublicKey.equals(Buffer.from(pinned)) || !verifySignature(pinned, signed, buf.subarray(signed.length))) throw new LayoutError("revocation list is not signed by the admin key pinned in this stick's header");
  if (!listLineage.equals(Buffer.from(lineageId))) throw new LayoutError("revocation list is for another lineage");
  const stickIds = Array.from({ length: count }, () => r.bytes(STICK_ID_BYTES));
  for (let i = 1; i < stickIds.length; i++) if (Buffer.compare(stickIds[i - 1] ?? Buffer.alloc(0), stickIds[i] ?? Buffer.alloc(0)) >= 0) throw new LayoutError("revocation list: ids are not sorted");
  return { lineageId: listLineage, createdMs, signerPublicKey, stickIds };
}
