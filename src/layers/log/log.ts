import { randomBytes } from "node:crypto";
import { CorruptStickError, UsageError } from "../../errors/errors.js";
import type { BlockDevice } from "../block-device.js";
import { checkpointFileBytes, loadCheckpoint } from "./checkpoint.js";
import { ExtentMap } from "./extent-map.js";
import { nodeFiles, type StoreFiles } from "../../util/store-files.js";
import {
  BLOCK_BYTES,
  DEFAULT_SEGMENT_BYTES,
  LOG_ID_BYTES,
  MAX_SEGMENT_BYTES,
  MIN_SEGMENT_BYTES,
  NO_CHECKPOINT,
  RecordType,
  SEGMENT_HEADER_BYTES,
  SUPERBLOCK_COPY_BYTES,
  SUPERBLOCK_FILE,
  SUPERBLOCK_FILE_BYTES,
  TAIL_ROOM,
  checkpointFileName,
  encodeSegmentHeader,
  recordBytes,
  segmentFileName,
} from "./format.js";
import { LogKeys } from "./keys.js";
import { CHECKPOINT_EVERY_SEGMENTS, LogDevice, RESERVE_SEGMENTS } from "./log-device.js";
import { replay } from "./replay.js";
import { SegmentFiles } from "./segments.js";
import { encodeSuperblockCopy, readSuperblock, writeSuperblock, type Superblock } from "./superblock.js";

const LOG_KEY_BYTES = 32;
/** Room for overwrites: the log holds 1.25 times the disk, so compaction always finds a victim at most 80% live. */
const LOG_SLACK = 1.25;
/** Disks up to 2^32 blocks: block numbers are u32 in the format. */
const MAX_BLOCKS = 2 ** 32 - 1;

export interface CreateLogOptions {
  dir: string;
  key: Buffer;
  /** Disk size in bytes, a multiple of 512. */
  size: number;
  segmentBytes?: number;
  /** Overrides the segment count computed from the size (a log smaller than its disk can fill up). */
  segmentCount?: number;
  lower?: BlockDevice;
  files?: StoreFiles;
}

export interface OpenLogOptions {
  dir: string;
  key: Buffer;
  lower?: BlockDevice;
  files?: StoreFiles;
}

/** Blocks one segment holds in the worst case: every write a record of one block. */
function blocksPerSegment(segmentBytes: number): number {
  return Math.floor((segmentBytes - SEGMENT_HEADER_BYTES - TAIL_ROOM) / recordBytes(RecordType.Data, 1));
}

/** The disk times LOG_SLACK, plus the segments a checkpointed chain pins, the reserve and the head. */
export function defaultSegmentCount(size: number, segmentBytes: number): number {
  const blocks = Math.ceil(size / BLOCK_BYTES);
  return Math.ceil((LOG_SLACK * blocks) / blocksPerSegment(segmentBytes)) + CHECKPOINT_EVERY_SEGMENTS + RESERVE_SEGMENTS + 2;
}

/** Creates the log's files (preallocated), superblock last, and opens it. */
export async function createLogDevice(o: CreateLogOptions): Promise<BlockDevice> {
  const files = o.files ?? nodeFiles;
  const segmentBytes = o.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  checkKey(o.key);
  if (!Number.isSafeInteger(o.size) || o.size <= 0 || o.size % 512 !== 0 || Math.ceil(o.size / BLOCK_BYTES) > MAX_BLOCKS) {
    throw new UsageError(`log disk size must be a positive multiple of 512 bytes, at most ${MAX_BLOCKS} blocks of 4 KiB; got ${o.size}`);
  }
  if (!Number.isSafeInteger(segmentBytes) || segmentBytes % BLOCK_BYTES !== 0 || segmentBytes < MIN_SEGMENT_BYTES || segmentBytes > MAX_SEGMENT_BYTES) {
    throw new UsageError(`segment size must be a multiple of 4096 from ${MIN_SEGMENT_BYTES} to ${MAX_SEGMENT_BYTES} bytes; got ${segmentBytes}`);
  }
  const segmentCount = o.segmentCount ?? defaultSegmentCount(o.size, segmentBytes);
  if (!Number.isSafeInteger(segmentCount) || segmentCount < RESERVE_SEGMENTS + 2 || segmentCount > 0xffff) {
    throw new UsageError(`segment count must be from ${RESERVE_SEGMENTS + 2} to 65535; got ${segmentCount}`);
  }
  await files.ensureFolder(o.dir);
  if ((await files.size(`${o.dir}/${SUPERBLOCK_FILE}`)) !== undefined) throw new UsageError(`${o.dir} already holds a log`);

  await removeLeftovers(files, o.dir);

  const logId = randomBytes(LOG_ID_BYTES);
  for (let s = 0; s < segmentCount; s++) await files.create(`${o.dir}/${segmentFileName(s)}`, segmentBytes, encodeSegmentHeader(logId, s));
  const cpBytes = checkpointFileBytes(Math.ceil(o.size / BLOCK_BYTES));
  for (const slot of [0, 1]) await files.create(`${o.dir}/${checkpointFileName(slot)}`, cpBytes, Buffer.alloc(0));
  await files.syncFolder(o.dir);

  const keys = new LogKeys(o.key, logId);
  const sb: Superblock = {
    sequence: 0,
    logId,
    diskSize: o.size,
    segmentCount,
    segmentBytes,
    generation: 0,
    checkpointSlot: NO_CHECKPOINT,
    checkpointBytes: 0,
    checkpointGeneration: 0,
    replayStart: { segment: 0, offset: SEGMENT_HEADER_BYTES, seq: 1 },
    createdMs: Date.now(),
  };
  const both = Buffer.alloc(SUPERBLOCK_FILE_BYTES);
  encodeSuperblockCopy(sb, keys.superblockMac).copy(both, 0);
  encodeSuperblockCopy({ ...sb, sequence: 1 }, keys.superblockMac).copy(both, SUPERBLOCK_COPY_BYTES);
  // the commit point of creation: a folder without superblock.bin is not a log
  await files.create(`${o.dir}/${SUPERBLOCK_FILE}`, SUPERBLOCK_FILE_BYTES, both);
  await files.syncFolder(o.dir);
  return openLogDevice({ dir: o.dir, key: o.key, ...(o.lower ? { lower: o.lower } : {}), files });
}

/**
 * Removes the segment and checkpoint files of a creation that was interrupted before its
 * superblock (nothing in them was ever acknowledged), so that creating again can succeed.
 */
async function removeLeftovers(files: StoreFiles, dir: string): Promise<void> {
  for (const slot of [0, 1]) await files.remove(`${dir}/${checkpointFileName(slot)}`);
  for (let s = 0; (await files.size(`${dir}/${segmentFileName(s)}`)) !== undefined; s++) await files.remove(`${dir}/${segmentFileName(s)}`);
}

/** Opens a log: superblock, checkpoint, replay of the tail, then a durable generation bump. */
export async function openLogDevice(o: OpenLogOptions): Promise<BlockDevice> {
  const files = o.files ?? nodeFiles;
  checkKey(o.key);
  const { sb, keys } = await readSuperblock(files, o.dir, o.key);
  if (sb.diskSize % 512 !== 0 || sb.diskSize === 0 || sb.segmentBytes % BLOCK_BYTES !== 0 || sb.segmentBytes < MIN_SEGMENT_BYTES || sb.segmentBytes > MAX_SEGMENT_BYTES) {
    throw new CorruptStickError(`the superblock of the log in ${o.dir} gives impossible sizes`);
  }
  if (sb.generation >= 0xffffffff) throw new CorruptStickError(`the log in ${o.dir} has run out of generations`);
  const blocks = Math.ceil(sb.diskSize / BLOCK_BYTES);
  for (let s = 0; s < sb.segmentCount; s++) await expectSize(files, `${o.dir}/${segmentFileName(s)}`, sb.segmentBytes);
  for (const slot of [0, 1]) await expectSize(files, `${o.dir}/${checkpointFileName(slot)}`, checkpointFileBytes(blocks));

  const map = new ExtentMap(blocks, sb.segmentCount);
  if (sb.checkpointSlot !== NO_CHECKPOINT) {
    await loadCheckpoint(files, o.dir, keys, sb.logId, { slot: sb.checkpointSlot, generation: sb.checkpointGeneration, start: sb.replayStart }, sb.checkpointBytes, map, sb.segmentBytes);
  }
  const segments = new SegmentFiles(files, o.dir, sb.logId);
  try {
    const r = await replay(
      { segments, keys, logId: sb.logId, segmentCount: sb.segmentCount, segmentBytes: sb.segmentBytes, maxGeneration: sb.generation },
      sb.replayStart,
      map,
    );
    // Records from now on carry a generation no earlier session used, so what a crash left after
    // the last commit can never be mistaken for the continuation of the new chain.
    const opened: Superblock = { ...sb, sequence: sb.sequence + 1, generation: sb.generation + 1 };
    await writeSuperblock(files, o.dir, opened, keys);
    return new LogDevice({ files, dir: o.dir, sb: opened, keys, map, segments, head: r.head, chain: r.chain, dirtySinceCheckpoint: r.applied, lower: o.lower });
  } catch (err) {
    await segments.closeAll();
    throw err;
  }
}

function checkKey(key: Buffer): void {
  if (key.length !== LOG_KEY_BYTES) throw new UsageError(`a log key is ${LOG_KEY_BYTES} bytes, got ${key.length}`);
}

async function expectSize(files: StoreFiles, path: string, size: number): Promise<void> {
  const got = await files.size(path);
  if (got === undefined) throw new CorruptStickError(`${path} is missing: the log is damaged`);
  if (got !== size) throw new CorruptStickError(`${path} is ${got} bytes, not ${size}: the log is damaged`);
}
