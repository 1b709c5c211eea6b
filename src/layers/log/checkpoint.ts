import { AEAD_OVERHEAD, AeadAuthError, open, seal } from "../../crypto/aead.js";
import { CorruptStickError } from "../../errors/errors.js";
import { ByteReader, LayoutError } from "../../util/bytes.js";
import type { ExtentMap } from "./extent-map.js";
import type { StoreFiles } from "../../util/store-files.js";
import { MAX_RECORD_BLOCKS, checkpointAad, checkpointFileName, sealedDataBytes, type LogPosition } from "./format.js";
import type { LogKeys } from "./keys.js";

// The extent map as runs of blocks, sealed, in one of two slot files; the superblock names the
// slot in use, so a checkpoint being written never touches the one a crash would fall back to.

const CHECKPOINT_HEAD_BYTES = 8;
const RUN_BYTES = 32;
const ZERO_RUN = 0xffffffff;

/** Slot file size: the sealed checkpoint of a map where no two neighbouring blocks share a run. */
export function checkpointFileBytes(blocks: number): number {
  return Math.ceil((CHECKPOINT_HEAD_BYTES + RUN_BYTES * blocks + AEAD_OVERHEAD) / 4096) * 4096;
}

function encodeCheckpoint(map: ExtentMap): Buffer {
  // unsafe: only the bytes of the runs written are sealed; a DataView writes faster than Buffer's methods
  const out = Buffer.allocUnsafe(CHECKPOINT_HEAD_BYTES + RUN_BYTES * map.blocks);
  const v = new DataView(out.buffer, out.byteOffset, out.length);
  let pos = CHECKPOINT_HEAD_BYTES;
  map.forEachRun((first, count, loc) => {
    v.setUint32(pos, first, true);
    v.setUint32(pos + 4, count, true);
    v.setUint32(pos + 8, loc === undefined ? ZERO_RUN : loc.segment, true);
    v.setUint32(pos + 12, loc?.offset ?? 0, true);
    v.setUint32(pos + 16, loc?.generation ?? 0, true);
    v.setUint16(pos + 20, loc?.index ?? 0, true);
    v.setUint16(pos + 22, loc?.blocks ?? 0, true);
    // sequence numbers stay below 2^53 (§18.9): two u32 halves, no BigInt per run
    const seq = loc?.seq ?? 0;
    v.setUint32(pos + 24, seq % 2 ** 32, true);
    v.setUint32(pos + 28, Math.floor(seq / 2 ** 32), true);
    pos += RUN_BYTES;
  });
  v.setUint32(0, (pos - CHECKPOINT_HEAD_BYTES) / RUN_BYTES, true);
  v.setUint32(4, 0, true); // reserved
  return out.subarray(0, pos);
}

/** Fills an empty map from a checkpoint; every run is bounds-checked. */
function decodeCheckpoint(plain: Buffer, map: ExtentMap, segmentBytes: number): void {
  const r = new ByteReader(plain, "checkpoint");
  const runs = r.u32();
  r.zeros(4);
  if (r.remaining !== runs * RUN_BYTES) throw new LayoutError("checkpoint: wrong length for its run count");
  for (let i = 0; i < runs; i++) {
    const first = r.u32();
    const count = r.u32();
    const segment = r.u32();
    const offset = r.u32();
    const generation = r.u32();
    const index = r.u16();
    const blocks = r.u16();
    const seq = r.u64();
    if (count === 0 || first + count > map.blocks) throw new LayoutError("checkpoint: a run reaches past the disk");
    if (segment === ZERO_RUN) {
      if (offset !== 0 || generation !== 0 || index !== 0 || blocks !== 0 || seq !== 0) throw new LayoutError("checkpoint: a zero run with a place");
      for (let k = 0; k < count; k++) map.setZero(first + k);
      continue;
    }
    if (blocks > MAX_RECORD_BLOCKS || index + count > blocks) throw new LayoutError("checkpoint: a run does not fit its record");
    if (segment >= map.live.length || offset + sealedDataBytes(blocks) > segmentBytes) {
      throw new LayoutError("checkpoint: a run points outside the segments");
    }
    for (let k = 0; k < count; k++) map.setData(first + k, { segment, offset, index: index + k, blocks, generation, seq });
  }
}

export interface CheckpointRef {
  slot: number;
  generation: number;
  start: LogPosition;
}

/** The map sealed as a checkpoint: CPU only, so the caller can write it out later. */
export function sealCheckpoint(keys: LogKeys, logId: Buffer, ref: CheckpointRef, map: ExtentMap): Buffer {
  return seal(keys.data(ref.generation), encodeCheckpoint(map), checkpointAad(logId, ref.slot, ref.generation, ref.start));
}

export async function writeCheckpoint(files: StoreFiles, dir: string, slot: number, sealed: Buffer): Promise<void> {
  const file = await files.open(`${dir}/${checkpointFileName(slot)}`);
  try {
    await file.write(sealed, 0);
    await file.sync();
  } finally {
    await file.close();
  }
}

export async function loadCheckpoint(
  files: StoreFiles,
  dir: string,
  keys: LogKeys,
  logId: Buffer,
  ref: CheckpointRef,
  sealedBytes: number,
  map: ExtentMap,
  segmentBytes: number,
): Promise<void> {
  const name = checkpointFileName(ref.slot);
  if (sealedBytes > checkpointFileBytes(map.blocks)) throw new CorruptStickError(`the log's superblock gives ${name} an impossible length`);
  const file = await files.open(`${dir}/${name}`);
  const sealed = Buffer.alloc(sealedBytes);
  try {
    if ((await file.read(sealed, 0)) !== sealedBytes) throw new CorruptStickError(`${dir}/${name} is truncated`);
  } finally {
    await file.close();
  }
  try {
    decodeCheckpoint(open(keys.data(ref.generation), sealed, checkpointAad(logId, ref.slot, ref.generation, ref.start)), map, segmentBytes);
  } catch (err) {
    if (err instanceof AeadAuthError || err instanceof LayoutError) {
      throw new CorruptStickError(`${dir}/${name} is damaged: ${err.message}`);
    }
    throw err;
  }
}
