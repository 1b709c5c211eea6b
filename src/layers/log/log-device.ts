// The log as a BlockDevice: writes become sealed records appended at the head, flush and FUA
// commit them, segment switches checkpoint the map and compact, reads go through BlockReader.
// Mutations run one at a time (exclusive); reads run beside them, and so do the pwrite of a full
// append buffer and the syncs of a flush: the next writes fill the other buffer meanwhile.
import { AEAD_OVERHEAD, seal, sealParts } from "../../crypto/aead.js";
import { freeNow } from "../../util/free-now.js";
import { ChunkInvalidError, ChunkMissingError, NoSpaceError, OutOfRangeError } from "../../errors/errors.js";
import type { BlockDevice, Extent, WriteOptions } from "../block-device.js";
import { AppendBuffer } from "./append-buffer.js";
import { BlockReader } from "./block-reader.js";
import { sealCheckpoint, writeCheckpoint } from "./checkpoint.js";
import { ExtentMap, UNMAPPED } from "./extent-map.js";
import type { LogFiles } from "./files.js";
import {
  BLOCK_BYTES,
  COMMIT_BYTES,
  DESCRIPTOR_BYTES,
  MAX_RECORD_BLOCKS,
  RECORD_HEAD_BYTES,
  RecordType,
  SEGMENT_HEADER_BYTES,
  JUMP_BYTES,
  TAIL_ROOM,
  dataAad,
  encodeRecordHead,
  recordAad,
  recordBytes,
  type LogPosition,
} from "./format.js";
import type { LogKeys } from "./keys.js";
import { LogRecordError } from "./log-errors.js";
import type { SegmentFiles } from "./segments.js";
import { writeSuperblock, type Superblock } from "./superblock.js";

/**
 * Appends are gathered here and written with one pwrite. Small, so that while a guest writes
 * towards its next flush the full buffers are written out beside its writes, and the flush
 * finds little left to write before its sync (2 MiB put a 2 MiB pwrite in front of every sync).
 */
const WRITE_BUFFER_BYTES = 256 * 1024;
/**
 * Bytes written to a segment since its last sync after which it is synced in the background
 * (syncAhead), so that a flush finds most of its records on the stick already.
 */
const SYNC_AHEAD_BYTES = 512 * 1024;
/** A checkpoint is written once the chain since the last one spans more segments than this. */
export const CHECKPOINT_EVERY_SEGMENTS = 2;
/** A data write may not take the last free segment: compaction and zero records need one. */
export const RESERVE_SEGMENTS = 1;
/** Compaction starts when fewer segments than this are free. */
const LOW_WATER_SEGMENTS = RESERVE_SEGMENTS + 2;
/** A segment is worth compacting only if its live data takes at most this share of a segment. */
const MAX_VICTIM_FILL = 0.9;
/**
 * Below this many free segments, every data write also copies a few live blocks of a victim
 * (compactAhead), so that the compaction that stops a write until segments are free seldom runs.
 */
const EARLY_COMPACTION_SEGMENTS = LOW_WATER_SEGMENTS + 2;
/** Blocks early compaction copies per block written: a victim 80% live needs 4 to gain a segment per segment written. */
const EARLY_COPIES_PER_BLOCK = 8;

type SpaceUse = "data" | "zero" | "compact";

export interface LogDeviceParts {
  files: LogFiles;
  dir: string;
  sb: Superblock;
  keys: LogKeys;
  map: ExtentMap;
  segments: SegmentFiles;
  head: LogPosition;
  chain: number[];
  /** The map differs from the stored checkpoint (records were replayed). */
  dirtySinceCheckpoint: boolean;
  lower: BlockDevice | undefined;
}

class LogFullError extends NoSpaceError {
  constructor(dir: string) {
    super(dir);
    this.message = `the log in ${dir} is full: compaction cannot free a segment (trim or delete data to make room)`;
  }
}

export class LogDevice implements BlockDevice {
  readonly size: number;
  readonly readOnly = false;
  private sb: Superblock;
  private readonly map: ExtentMap;
  private head: LogPosition;
  private readonly generation: number;
  private readonly usable: number;
  private readonly pending: AppendBuffer;
  private readonly reader: BlockReader;
  private readonly dirty = new Set<number>();
  private uncommitted = false;
  private dirtySinceCheckpoint: boolean;
  private pinned: Set<number>;
  /** Segments holding a block that no longer authenticates: compaction skips them this session. */
  private readonly uncompactable = new Set<number>();
  private compacting = false;
  /** The segment early compaction is emptying, and the block from which to look for its next live block. */
  private victim: { segment: number; cursor: number } | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private broken: Error | undefined;
  /** The checkpoint being written outside the lock, and the segments the head entered since its replay start. */
  private checkpointing: { done: Promise<void>; entered: number[] } | undefined;
  /** Resolves when the last commit record started is durable, with everything before it. */
  private durable: Promise<void> = Promise.resolve();
  /** The commit that flushes arriving now will share, once the sync in progress is done (flush). */
  private nextCommit: Promise<void> | undefined;
  /** Bytes written since the last sync (syncAhead), and the background sync running, if any. */
  private unsyncedBytes = 0;
  private syncingAhead: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly p: LogDeviceParts) {
    this.sb = p.sb;
    this.size = p.sb.diskSize;
    this.map = p.map;
    this.head = p.head;
    this.generation = p.sb.generation;
    this.pinned = new Set(p.chain);
    this.dirtySinceCheckpoint = p.dirtySinceCheckpoint;
    this.usable = p.sb.segmentBytes - SEGMENT_HEADER_BYTES - TAIL_ROOM;
    // never more than a segment: the buffer is drained at every segment switch anyway
    this.pending = new AppendBuffer(Math.min(WRITE_BUFFER_BYTES, p.sb.segmentBytes));
    const { map, keys, segments, lower } = p;
    this.reader = new BlockReader({ size: this.size, map, keys, logId: p.sb.logId, segments, pending: this.pending, lower });
  }

  // ---- BlockDevice ----

  async read(offset: number, length: number): Promise<Buffer> {
    if (this.closed) throw new Error("the log device is closed");
    this.checkRange(offset, length);
    if (length === 0) return Buffer.alloc(0);
    const first = Math.floor(offset / BLOCK_BYTES);
    const last = Math.floor((offset + length - 1) / BLOCK_BYTES);
    const blocks = await this.reader.readBlocks(first, last - first + 1);
    const start = offset - first * BLOCK_BYTES;
    return blocks.subarray(start, start + length);
  }

  async write(offset: number, data: Buffer, opts: WriteOptions): Promise<void> {
    this.checkRange(offset, data.length);
    const { durable } = await this.exclusive(async () => {
      await this.writeBytes(offset, data);
      await this.compactAhead(Math.ceil(data.length / BLOCK_BYTES));
      return this.commitIf(opts.fua);
    });
    await this.outsideLock(durable);
  }

  /**
   * Group commit: a flush that arrives while a commit's sync runs waits for it, then shares one
   * commit record and one sync with every flush that arrived meanwhile. That commit is appended
   * after each of their calls, so it covers every write acknowledged before any of them; one
   * sync after another costs the stick far less than one per flush, all at once.
   */
  flush(): Promise<void> {
    this.nextCommit ??= this.durable
      .catch(() => undefined)
      .then(async () => {
        this.nextCommit = undefined;
        const { durable } = await this.exclusive(() => this.commitIf(true));
        await this.outsideLock(durable);
      });
    return this.nextCommit;
  }

  trim(offset: number, length: number): Promise<void> {
    return this.writeZeroes(offset, length, { fua: false });
  }

  async writeZeroes(offset: number, length: number, opts: WriteOptions): Promise<void> {
    this.checkRange(offset, length);
    const { durable } = await this.exclusive(async () => {
      if (length > 0) await this.zeroBytes(offset, length);
      return this.commitIf(opts.fua);
    });
    await this.outsideLock(durable);
  }

  /** Written blocks are data, zeroed ones holes; never-written ones are the lower device's (or holes). */
  async blockStatus(offset: number, length: number): Promise<Extent[]> {
    this.checkRange(offset, length);
    const out: Extent[] = [];
    const end = offset + length;
    let pos = offset;
    while (pos < end) {
      const b = Math.floor(pos / BLOCK_BYTES);
      const st = this.map.get(b);
      if (st === UNMAPPED && this.p.lower !== undefined) {
        // the caller may ask again from where we stop: answer for this run of the lower device only
        if (out.length > 0) break;
        let runEnd = b + 1;
        while (runEnd * BLOCK_BYTES < end && this.map.get(runEnd) === UNMAPPED) runEnd++;
        return this.lowerStatus(pos, Math.min(end, runEnd * BLOCK_BYTES) - pos);
      }
      const next = Math.min(end, (b + 1) * BLOCK_BYTES);
      const zero = typeof st !== "object"; // zeroed, or never written with nothing below
      const prev = out[out.length - 1];
      if (prev?.zero === zero) prev.length += next - pos;
      else out.push({ length: next - pos, hole: zero, zero });
      pos = next;
    }
    return out;
  }

  private async lowerStatus(offset: number, length: number): Promise<Extent[]> {
    const lower = this.p.lower;
    const inLower = lower === undefined ? 0 : Math.max(0, Math.min(length, lower.size - offset));
    if (lower === undefined || inLower === 0) return [{ length, hole: true, zero: true }];
    const got = lower.blockStatus === undefined ? [{ length: inLower, hole: false, zero: false }] : await lower.blockStatus(offset, inLower);
    return got.length > 0 ? got : [{ length: inLower, hole: false, zero: false }];
  }

  /** Commits and checkpoints (so the next open replays nothing), then closes the files; idempotent. */
  async close(): Promise<void> {
    const run = this.queue.then(async () => {
      if (this.closed) return;
      this.closed = true;
      try {
        if (this.broken === undefined) {
          await this.commit();
          if (this.dirtySinceCheckpoint) await this.checkpoint();
        }
      } finally {
        await this.checkpointing?.done.catch(() => undefined);
        await this.syncingAhead;
        await this.p.segments.closeAll();
        this.p.keys.wipe();
      }
    });
    this.queue = run.catch(() => undefined);
    await run;
  }

  // ---- serialisation and failure ----

  /** Runs mutations one at a time; after a failed write to the stick, refuses every later one. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      if (this.closed) throw new Error("the log device is closed");
      if (this.broken !== undefined) throw this.broken;
      try {
        return await fn();
      } catch (err) {
        // A full log, an unreadable block here or in the lower device, or a bad range changes
        // nothing; any other failure (a write or sync to the stick) may have lost buffered records.
        const harmless =
          err instanceof LogFullError || err instanceof LogRecordError || err instanceof ChunkInvalidError || err instanceof ChunkMissingError || err instanceof OutOfRangeError;
        if (!harmless) this.broken = err instanceof Error ? err : new Error(String(err));
        throw err;
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Waits for a commit to be durable without holding the lock; a failed sync breaks the device as a failed write does. */
  private async outsideLock(durable: Promise<void>): Promise<void> {
    try {
      await durable;
    } catch (err) {
      this.broken ??= err instanceof Error ? err : new Error(String(err));
      throw err;
    }
  }

  private checkRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new OutOfRangeError(offset, length, this.size);
    }
  }

  // ---- writing ----

  private async writeBytes(offset: number, data: Buffer): Promise<void> {
    if (data.length === 0) return;
    const first = Math.floor(offset / BLOCK_BYTES);
    const last = Math.floor((offset + data.length - 1) / BLOCK_BYTES);
    const count = last - first + 1;
    let payload: Buffer;
    if (offset % BLOCK_BYTES === 0 && data.length === count * BLOCK_BYTES) {
      payload = data;
    } else {
      // read-modify-write of the partial blocks at either end
      payload = Buffer.alloc(count * BLOCK_BYTES);
      if (offset % BLOCK_BYTES !== 0) (await this.reader.readBlocks(first, 1)).copy(payload, 0);
      if ((offset + data.length) % BLOCK_BYTES !== 0 && (count > 1 || offset % BLOCK_BYTES === 0)) {
        (await this.reader.readBlocks(last, 1)).copy(payload, (count - 1) * BLOCK_BYTES);
      }
      data.copy(payload, offset - first * BLOCK_BYTES);
    }
    await this.appendData(first, payload, "data");
  }

  private async zeroBytes(offset: number, length: number): Promise<void> {
    const firstWhole = Math.ceil(offset / BLOCK_BYTES);
    const endWhole = Math.floor((offset + length) / BLOCK_BYTES);
    const lastBlockEnd = Math.min(this.size, endWhole * BLOCK_BYTES);
    if (firstWhole >= endWhole) {
      await this.writeBytes(offset, Buffer.alloc(length));
      return;
    }
    if (offset < firstWhole * BLOCK_BYTES) await this.writeBytes(offset, Buffer.alloc(firstWhole * BLOCK_BYTES - offset));
    if (offset + length > lastBlockEnd) await this.writeBytes(lastBlockEnd, Buffer.alloc(offset + length - lastBlockEnd));
    const len = recordBytes(RecordType.Zero, 0);
    await this.ensureRoom(len, "zero");
    const desc = Buffer.alloc(DESCRIPTOR_BYTES[RecordType.Zero]);
    desc.writeUInt32LE(firstWhole, 0);
    desc.writeUInt32LE(endWhole - firstWhole, 4);
    this.appendRecord(RecordType.Zero, 0, desc);
    for (let b = firstWhole; b < endWhole; b++) this.map.setZero(b);
    this.uncommitted = true;
  }

  /** Appends `payload` (whole blocks from `first`) as data records of at most MAX_RECORD_BLOCKS, each sealed as one. */
  private async appendData(first: number, payload: Buffer, use: SpaceUse): Promise<void> {
    const count = payload.length / BLOCK_BYTES;
    for (let done = 0; done < count; ) {
      await this.ensureRoom(recordBytes(RecordType.Data, 1), use);
      // fill what is left of the head segment rather than leave it empty
      const room = Math.floor((this.sb.segmentBytes - TAIL_ROOM - this.head.offset - recordBytes(RecordType.Data, 0)) / BLOCK_BYTES);
      const n = Math.min(MAX_RECORD_BLOCKS, count - done, room);
      await this.ensureRoom(recordBytes(RecordType.Data, n), use);
      const { segment, offset: at, seq } = this.head;
      const blocksAt = at + RECORD_HEAD_BYTES + DESCRIPTOR_BYTES[RecordType.Data] + AEAD_OVERHEAD;
      const plain = payload.subarray(done * BLOCK_BYTES, (done + n) * BLOCK_BYTES);
      const sealed = sealParts(this.p.keys.data(this.generation), plain, dataAad(this.sb.logId, segment, blocksAt, first + done, n, this.generation, seq));
      const desc = Buffer.alloc(DESCRIPTOR_BYTES[RecordType.Data]);
      desc.writeUInt32LE(first + done, 0);
      this.appendRecord(RecordType.Data, n, desc, sealed);
      // copied into the write buffer: garbage from here on
      sealed.forEach(freeNow);
      for (let i = 0; i < n; i++) {
        this.map.setData(first + done + i, { segment, offset: blocksAt, index: i, blocks: n, generation: this.generation, seq });
      }
      this.uncommitted = true;
      done += n;
    }
  }

  /** Seals the descriptor, copies the record into the write buffer and advances the head. */
  private appendRecord(type: RecordType, blocks: number, desc: Buffer, sealedData: Buffer[] = []): void {
    const { segment, offset, seq } = this.head;
    const head = encodeRecordHead({ type, generation: this.generation, blocks, seq, sealedDescriptorBytes: desc.length + AEAD_OVERHEAD });
    const sealedDesc = seal(this.p.keys.data(this.generation), desc, recordAad(this.sb.logId, segment, offset, head));
    this.pending.append(segment, offset, [head, sealedDesc, ...sealedData]);
    this.head = { segment, offset: offset + recordBytes(type, blocks), seq: seq + 1 };
    this.dirtySinceCheckpoint = true;
  }

  /** Starts writing out the append buffer (one pwrite) once the previous one is done; `done` is its completion. */
  private async drain(): Promise<{ done: Promise<void> }> {
    const started = await this.pending.drain((segment, data, offset) => this.p.segments.write(segment, data, offset));
    if (started === undefined) return { done: Promise.resolve() };
    this.dirty.add(started.segment);
    this.unsyncedBytes += started.bytes;
    if (this.unsyncedBytes >= SYNC_AHEAD_BYTES) this.syncAhead(started.segment, started.done);
    return started;
  }

  /**
   * Syncs `segment` in the background once the write `written` is done, while appends go on:
   * a flush's own sync, which the guest waits for, then has little left to write. It changes no
   * order on the stick (records may reach it any time before their commit, FORMAT.md §18.8),
   * and its failure fails every later sync (SegmentFiles), so the next commit and the device.
   */
  private syncAhead(segment: number, written: Promise<void>): void {
    if (this.syncingAhead !== undefined) return;
    this.unsyncedBytes = 0;
    this.syncingAhead = written
      .then(() => this.p.segments.sync(segment))
      .catch(() => undefined)
      .finally(() => {
        this.syncingAhead = undefined;
      });
  }

  /** Makes room for a record of `len` bytes at the head: drains the buffer, moves to a new segment. */
  private async ensureRoom(len: number, use: SpaceUse): Promise<void> {
    // compaction at most once a call: it moves the head, and may leave it full again
    for (let mayCompact = true; this.head.offset + len + TAIL_ROOM > this.sb.segmentBytes; mayCompact = false) {
      await this.nextSegment(use, mayCompact);
    }
    if (!this.pending.fits(this.head.segment, len)) await this.drain();
  }

  /**
   * Durability point: a commit record appended after the records it commits and written with
   * them; then every segment written since the last commit is synced once. Replay takes the
   * commit only if every record before it opens, so the records need no sync of their own
   * first. Every record leaves TAIL_ROOM after itself, so the commit always fits in the head
   * segment. Returns (wrapped, so that the lock need not wait for it) the promise that the
   * commit, and every earlier one, is durable.
   */
  private async commitIf(wanted: boolean): Promise<{ durable: Promise<void> }> {
    if (!wanted || !this.uncommitted) return { durable: wanted ? this.durable : Promise.resolve() };
    if (!this.pending.fits(this.head.segment, COMMIT_BYTES)) await this.drain();
    this.appendRecord(RecordType.Commit, 0, Buffer.alloc(0));
    this.uncommitted = false;
    const { done } = await this.drain();
    const dirty = [...this.dirty];
    this.dirty.clear();
    this.unsyncedBytes = 0;
    const previous = this.durable;
    const durable = (async () => {
      await done;
      await Promise.all(dirty.map((seg) => this.p.segments.sync(seg)));
      await previous;
    })();
    durable.catch(() => undefined); // its failure reaches every caller that waits for it
    this.durable = durable;
    return { durable };
  }

  /** Commits and waits until it is durable (segment switches, checkpoints, close). */
  private async commit(): Promise<void> {
    await (await this.commitIf(true)).durable;
  }

  /** Moves the head to a free segment. Commits first, so the map in memory is the committed one. */
  private async nextSegment(use: SpaceUse, mayCompact: boolean): Promise<void> {
    await this.commit();
    if (!this.compacting && this.checkpointing === undefined && this.pinned.size > CHECKPOINT_EVERY_SEGMENTS) await this.checkpoint(false);
    const need = use === "data" ? RESERVE_SEGMENTS + 1 : 1;
    if (use === "data" && mayCompact && !this.compacting && this.freeSegments().length < LOW_WATER_SEGMENTS) {
      const before = this.head.segment;
      await this.compact();
      if (this.head.segment !== before) return; // compaction moved the head; the caller checks room again
    }
    const free = this.freeSegments();
    const next = free[0];
    if (next === undefined || free.length < need) throw new LogFullError(this.p.dir);
    const desc = Buffer.alloc(DESCRIPTOR_BYTES[RecordType.Jump]);
    desc.writeUInt32LE(next, 0);
    if (!this.pending.fits(this.head.segment, JUMP_BYTES)) await this.drain();
    this.appendRecord(RecordType.Jump, 0, desc);
    this.head = { segment: next, offset: SEGMENT_HEADER_BYTES, seq: this.head.seq };
    this.pinned.add(next);
    this.checkpointing?.entered.push(next);
  }

  /** Segments that hold no live block and are not needed to replay from the checkpoint, head first-after order. */
  private freeSegments(): number[] {
    const n = this.sb.segmentCount;
    const out: number[] = [];
    for (let k = 1; k < n; k++) {
      const s = (this.head.segment + k) % n;
      if (this.map.live[s] === 0 && !this.pinned.has(s)) out.push(s);
    }
    return out;
  }

  /**
   * Seals the map (under the lock: the committed map at the head), then writes it to the
   * checkpoint slot not in use and the superblock naming it; only after the superblock is
   * durable are the segments of the old chain released. Call after commit(). With `wait` false
   * the writing runs outside the lock, and the segments the head enters meanwhile join the chain.
   */
  private async checkpoint(wait = true): Promise<void> {
    // one at a time: every checkpoint writes the slot the superblock does not name
    await this.checkpointing?.done;
    await (await this.drain()).done;
    const slot = this.sb.checkpointSlot === 0 ? 1 : 0;
    const start = this.head;
    const sealed = sealCheckpoint(this.p.keys, this.sb.logId, { slot, generation: this.generation, start }, this.map);
    const job = { done: Promise.resolve(), entered: [start.segment] };
    job.done = (async () => {
      try {
        await writeCheckpoint(this.p.files, this.p.dir, slot, sealed);
        const sb: Superblock = {
          ...this.sb,
          sequence: this.sb.sequence + 1,
          checkpointSlot: slot,
          checkpointBytes: sealed.length,
          checkpointGeneration: this.generation,
          replayStart: start,
        };
        await writeSuperblock(this.p.files, this.p.dir, sb, this.p.keys);
        this.sb = sb;
        this.pinned = new Set(job.entered);
      } finally {
        this.checkpointing = undefined;
      }
    })();
    this.checkpointing = job;
    this.dirtySinceCheckpoint = false;
    if (wait) return job.done;
    job.done.catch((err: unknown) => (this.broken ??= err instanceof Error ? err : new Error(String(err))));
  }

  /**
   * Copies the live blocks of the emptiest segments to the head until enough segments are free.
   * A victim is released only by the checkpoint written after its copies are committed, so a
   * crash at any step leaves the old copies (before) or the new ones (after), both complete.
   */
  private async compact(): Promise<void> {
    this.compacting = true;
    try {
      await this.commit();
      if (this.dirtySinceCheckpoint) await this.checkpoint();
      let emptied = 0;
      for (let round = 0; round < this.sb.segmentCount; round++) {
        // an emptied victim already counts among the free segments
        if (this.freeSegments().length >= LOW_WATER_SEGMENTS) break;
        const victim = this.pickVictim();
        if (victim === undefined) break;
        if (this.freeSegments().length === 0 && emptied > 0) {
          await this.commit();
          await this.checkpoint();
          emptied = 0;
        }
        try {
          await this.copyOut(victim);
        } catch (err) {
          if (err instanceof LogFullError) break;
          // a damaged block: leave this segment be for the session (its block still reads as an error) and try another
          if (err instanceof LogRecordError) {
            this.uncompactable.add(victim);
            continue;
          }
          throw err;
        }
        emptied++;
      }
      await this.commit();
      if (this.dirtySinceCheckpoint) await this.checkpoint();
    } finally {
      this.compacting = false;
    }
  }

  private pickVictim(): number | undefined {
    let best: number | undefined;
    let bestLive = Infinity;
    for (let s = 0; s < this.sb.segmentCount; s++) {
      const live = this.map.live[s] ?? 0;
      if (!this.stillVictim(s)) continue;
      if (live < bestLive) {
        best = s;
        bestLive = live;
      }
    }
    return bestLive * BLOCK_BYTES <= MAX_VICTIM_FILL * this.usable ? best : undefined;
  }

  /**
   * A bounded step of compaction after a data write, while free segments run low: copies up to
   * EARLY_COPIES_PER_BLOCK live blocks per block written from one victim, a run at a time. The
   * copies are ordinary data records and the victim is released as in compact(), so a crash
   * leaves the old copies or the new ones. A failure here is not the write's: it stops the step.
   */
  private async compactAhead(written: number): Promise<void> {
    if (this.compacting || this.freeSegments().length >= EARLY_COMPACTION_SEGMENTS) return;
    this.compacting = true;
    try {
      for (let budget = written * EARLY_COPIES_PER_BLOCK; budget > 0; ) {
        const v = this.victim;
        if (v === undefined || !this.stillVictim(v.segment) || v.cursor >= this.map.blocks) {
          const next = this.pickVictim();
          if (next === undefined) return;
          this.victim = { segment: next, cursor: 0 };
          continue;
        }
        let first = v.cursor;
        while (first < this.map.blocks && this.map.segmentOf(first) !== v.segment) first++;
        let n = 0;
        while (n < Math.min(budget, MAX_RECORD_BLOCKS) && first + n < this.map.blocks && this.map.segmentOf(first + n) === v.segment) n++;
        v.cursor = first + n;
        if (n === 0) continue;
        await this.appendData(first, await this.reader.readBlocks(first, n), "compact");
        budget -= n;
      }
    } catch (err) {
      if (err instanceof LogRecordError && this.victim !== undefined) this.uncompactable.add(this.victim.segment);
      else if (!(err instanceof LogFullError)) throw err;
      this.victim = undefined;
    } finally {
      this.compacting = false;
    }
  }

  /** Whether segment `s` may be compacted: blocks live in it, and it is neither the head nor in the chain nor damaged. */
  private stillVictim(s: number): boolean {
    return (this.map.live[s] ?? 0) > 0 && s !== this.head.segment && !this.pinned.has(s) && !this.uncompactable.has(s);
  }

  private async copyOut(victim: number): Promise<void> {
    let runStart = -1;
    let runLength = 0;
    const flushRun = async (): Promise<void> => {
      if (runLength === 0) return;
      await this.appendData(runStart, await this.reader.readBlocks(runStart, runLength), "compact");
      runLength = 0;
    };
    for (let b = 0; b < this.map.blocks; b++) {
      if (this.map.segmentOf(b) !== victim) continue;
      if (runLength > 0 && b === runStart + runLength && runLength < MAX_RECORD_BLOCKS) {
        runLength++;
        continue;
      }
      await flushRun();
      runStart = b;
      runLength = 1;
    }
    await flushRun();
  }
}
