import { equalBytes, hmacSha256, sha256 } from "../../crypto/hash.js";
import { CorruptStickError, IncompleteStickError } from "../../errors/errors.js";
import { ByteReader, ByteWriter, LayoutError } from "../../util/bytes.js";
import type { StoreFiles } from "../../util/store-files.js";
import { LogKeys } from "./keys.js";
import { WrongLogKeyError } from "./log-errors.js";
import {
  BLOCK_BYTES,
  LOG_ID_BYTES,
  LOG_VERSION,
  MAGIC,
  NO_CHECKPOINT,
  SUPERBLOCK_COPY_BYTES,
  SUPERBLOCK_FILE,
  SUPERBLOCK_FILE_BYTES,
  type LogPosition,
} from "./format.js";

const BODY_BYTES = 128;
const MAC_END = BODY_BYTES + 32;
const CHECKSUM_END = MAC_END + 32;

export interface Superblock {
  /** Write count; the copy with the highest valid one is current. */
  sequence: number;
  logId: Buffer;
  diskSize: number;
  segmentCount: number;
  segmentBytes: number;
  /** Bumped, durably, every time the log is opened for writing. */
  generation: number;
  /** Checkpoint slot in use (0 or 1), or NO_CHECKPOINT. */
  checkpointSlot: number;
  checkpointBytes: number;
  /** The generation whose data key sealed the checkpoint. */
  checkpointGeneration: number;
  /** Where replay starts: the first record after the checkpoint. */
  replayStart: LogPosition;
  createdMs: number;
}

export function encodeSuperblockCopy(sb: Superblock, macKey: Buffer): Buffer {
  const body = new ByteWriter()
    .bytes(MAGIC.superblock)
    .u16(LOG_VERSION)
    .zeros(2)
    .u32(sb.sequence)
    .bytes(sb.logId)
    .u64(sb.diskSize)
    .u32(BLOCK_BYTES)
    .u32(sb.segmentCount)
    .u64(sb.segmentBytes)
    .u32(sb.generation)
    .u8(sb.checkpointSlot)
    .zeros(3)
    .u64(sb.checkpointBytes)
    .u64(sb.replayStart.seq)
    .u32(sb.replayStart.segment)
    .zeros(4)
    .u64(sb.replayStart.offset)
    .u64(sb.createdMs)
    .u32(sb.checkpointGeneration)
    .zeros(20)
    .finish();
  const mac = hmacSha256(macKey, body);
  const copy = Buffer.alloc(SUPERBLOCK_COPY_BYTES);
  body.copy(copy, 0);
  mac.copy(copy, BODY_BYTES);
  sha256(copy.subarray(0, MAC_END)).copy(copy, MAC_END);
  return copy;
}

/** Parses one copy after checking its checksum; the MAC is checked by the caller, once it has the log id. */
function parseSuperblockCopy(copy: Buffer): Superblock {
  if (!equalBytes(sha256(copy.subarray(0, MAC_END)), copy.subarray(MAC_END, CHECKSUM_END))) {
    throw new LayoutError("checksum mismatch");
  }
  const r = new ByteReader(copy, "superblock");
  r.expect(MAGIC.superblock);
  const version = r.u16();
  if (version !== LOG_VERSION) throw new LayoutError(`log version ${version} is not supported (this stickvm reads ${LOG_VERSION})`);
  r.zeros(2);
  const sequence = r.u32();
  const logId = r.bytes(LOG_ID_BYTES);
  const diskSize = r.u64();
  if (r.u32() !== BLOCK_BYTES) throw new LayoutError(`block size is not ${BLOCK_BYTES}`);
  const segmentCount = r.u32();
  const segmentBytes = r.u64();
  const generation = r.u32();
  const checkpointSlot = r.u8();
  r.zeros(3);
  const checkpointBytes = r.u64();
  const seq = r.u64();
  const segment = r.u32();
  r.zeros(4);
  const offset = r.u64();
  const createdMs = r.u64();
  const checkpointGeneration = r.u32();
  r.zeros(20);
  new ByteReader(copy.subarray(CHECKSUM_END), "superblock").zeros(SUPERBLOCK_COPY_BYTES - CHECKSUM_END);
  if (checkpointSlot > 1 && checkpointSlot !== NO_CHECKPOINT) throw new LayoutError(`bad checkpoint slot ${checkpointSlot}`);
  if (segment >= segmentCount) throw new LayoutError("replay starts in a segment that does not exist");
  return {
    sequence,
    logId,
    diskSize,
    segmentCount,
    segmentBytes,
    generation,
    checkpointSlot,
    checkpointBytes,
    checkpointGeneration,
    replayStart: { seq, segment, offset },
    createdMs,
  };
}

function macOk(copy: Buffer, keys: LogKeys): boolean {
  return equalBytes(hmacSha256(keys.superblockMac, copy.subarray(0, BODY_BYTES)), copy.subarray(BODY_BYTES, MAC_END));
}

/**
 * Reads both copies and returns the authentic one with the highest sequence. Copies whose
 * checksum holds but whose MAC fails under this key mean a wrong key (or a log of another stick).
 */
export async function readSuperblock(files: StoreFiles, dir: string, key: Buffer): Promise<{ sb: Superblock; keys: LogKeys }> {
  const path = `${dir}/${SUPERBLOCK_FILE}`;
  const size = await files.size(path);
  if (size === undefined) {
    throw new IncompleteStickError(`${path} is missing: ${dir} is not a stickvm log, or its creation was interrupted (the superblock is written last)`);
  }
  if (size !== SUPERBLOCK_FILE_BYTES) {
    throw new CorruptStickError(`${path} is ${size} bytes, not ${SUPERBLOCK_FILE_BYTES}: the log's superblock is damaged`);
  }
  const file = await files.open(path);
  const buf = Buffer.alloc(SUPERBLOCK_FILE_BYTES);
  try {
    await file.read(buf, 0);
  } finally {
    await file.close();
  }
  const reasons: string[] = [];
  let best: { sb: Superblock; keys: LogKeys } | undefined;
  let wrongKey = false;
  for (let i = 0; i < 2; i++) {
    const copy = buf.subarray(i * SUPERBLOCK_COPY_BYTES, (i + 1) * SUPERBLOCK_COPY_BYTES);
    let sb: Superblock;
    try {
      sb = parseSuperblockCopy(copy);
    } catch (err) {
      reasons.push(`copy ${i}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    const keys = new LogKeys(key, sb.logId);
    if (!macOk(copy, keys)) {
      wrongKey = true;
      reasons.push(`copy ${i}: MAC mismatch`);
      continue;
    }
    if (best === undefined || sb.sequence > best.sb.sequence) best = { sb, keys };
  }
  if (best !== undefined) return best;
  if (wrongKey) throw new WrongLogKeyError(dir);
  throw new CorruptStickError(`the superblock of the log in ${dir} is damaged (${reasons.join("; ")})`);
}

/** Writes `sb` over the copy not holding the current one (sequence parity), then syncs. */
export async function writeSuperblock(files: StoreFiles, dir: string, sb: Superblock, keys: LogKeys): Promise<void> {
  const file = await files.open(`${dir}/${SUPERBLOCK_FILE}`);
  try {
    await file.write(encodeSuperblockCopy(sb, keys.superblockMac), (sb.sequence % 2) * SUPERBLOCK_COPY_BYTES);
    await file.sync();
  } finally {
    await file.close();
  }
}
