import { sha256 } from "../crypto/hash.js";
import { ByteReader, ByteWriter, LayoutError } from "../util/bytes.js";

// The host cache's index file (FORMAT.md "Host cache"): the eviction order and which entries
// boot reads, nothing more. It never says an entry exists: the folder's files do, and the seal
// of each is checked on read, so a stale or lost index costs order, never correctness.
//   magic "SVCACHE1" || count u32 LE || count × (id 32 || flags u8) || SHA-256 of all before

export const META_FILE = "index.bin";
const MAGIC = Buffer.from("SVCACHE1", "latin1");
const ID_BYTES = 32;
const FLAG_BOOT = 1;

/** Ids from the first to be evicted to the last, each marked when boot reads it. */
export interface MetaEntry {
  id: Buffer;
  boot: boolean;
}

export function encodeMeta(entries: readonly MetaEntry[]): Buffer {
  const w = new ByteWriter().bytes(MAGIC).u32(entries.length);
  for (const e of entries) w.bytes(e.id).u8(e.boot ? FLAG_BOOT : 0);
  const body = w.finish();
  return Buffer.concat([body, sha256(body)]);
}

/** Throws LayoutError saying what is wrong. */
export function parseMeta(bytes: Buffer): MetaEntry[] {
  if (bytes.length < MAGIC.length + 4 + 32) throw new LayoutError(`it is ${bytes.length} bytes, too short`);
  const body = bytes.subarray(0, bytes.length - 32);
  if (!sha256(body).equals(bytes.subarray(body.length))) throw new LayoutError("its checksum does not match");
  const r = new ByteReader(body, "the index");
  r.expect(MAGIC);
  const count = r.u32();
  if (r.remaining !== count * (ID_BYTES + 1)) throw new LayoutError(`it says ${count} entries but holds ${r.remaining} bytes of them`);
  const out: MetaEntry[] = [];
  for (let i = 0; i < count; i++) {
    const id = r.bytes(ID_BYTES);
    const flags = r.u8();
    if ((flags & ~FLAG_BOOT) !== 0) throw new LayoutError(`entry ${i} has unknown flags ${flags}`);
    out.push({ id, boot: flags === FLAG_BOOT });
  }
  return out;
}
