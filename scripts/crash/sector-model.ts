// What a block device must hold after a crash, sector by sector. Every write fills its sectors
// with a pattern naming the write and the sector, so a read tells which write a sector holds
// (or that it holds none: damage). The model keeps, for each sector, the values written to it in
// order and which of them were acknowledged (a FUA write, or a flush after the write resolved);
// after a crash a sector must hold its last acknowledged value or one written after it.
import { SECTOR } from "./mem-files.js";

/** The value of a sector never written over a zero device, and of trimmed and zeroed sectors. */
export const ZERO_VALUE = 0;
/** The value of every sector of a lower device that holds a pattern (PatternDevice). */
export const LOWER_VALUE = 0xffffffff;
/** Sectors compared at once when checking a disk (64 KiB). */
const RUN_SECTORS = 128;

/** One sector of value `value`: the 8 bytes `value || sector` (u32 LE each), repeated; zeros for ZERO_VALUE. */
function fillSector(out: Buffer, at: number, value: number, sector: number): void {
  const target = out.subarray(at, at + SECTOR);
  if (value === ZERO_VALUE) {
    target.fill(0);
    return;
  }
  const unit = Buffer.alloc(8);
  unit.writeUInt32LE(value, 0);
  unit.writeUInt32LE(sector, 4);
  target.fill(unit);
}

/** `count` sectors of value `value` from sector `first`. */
export function sectorsOf(value: number, first: number, count: number): Buffer {
  const out = Buffer.allocUnsafe(count * SECTOR);
  for (let k = 0; k < count; k++) fillSector(out, k * SECTOR, value, first + k);
  return out;
}

/** The value the sector at `at` of `disk` holds, or undefined when it is no sector this model wrote there. */
export function valueAt(disk: Buffer, at: number, sector: number): number | undefined {
  // a sector of the pattern repeats every 8 bytes
  if (disk.compare(disk, at + 8, at + SECTOR, at, at + SECTOR - 8) !== 0) return undefined;
  const value = disk.readUInt32LE(at);
  const named = disk.readUInt32LE(at + 4);
  if (value === ZERO_VALUE) return named === 0 ? ZERO_VALUE : undefined;
  return named === sector ? value : undefined;
}

interface Change {
  value: number;
  /** The event that wrote it; -1 for what the device held before recording started (always durable). */
  event: number;
}

interface WriteEvent {
  kind: "write";
  fua: boolean;
  /** False when the write failed: its sectors may hold it, but nothing acknowledged it. */
  ok: boolean;
  /** Recorded file operations when the write settled. */
  end: number;
}

interface FlushEvent {
  kind: "flush";
  end: number;
  /** Writes recorded before this event number had resolved when the flush was called: it covers them. */
  covers: number;
}

export class SectorModel {
  private readonly history: Change[][];
  private readonly events: (WriteEvent | FlushEvent)[] = [];
  private lastValue: number;
  /** For each event index e, the earliest end of a flush covering event e; computed once recording is over. */
  private flushEndFrom: number[] | undefined;
  /** The last disk of acknowledged values made, and how many writes were acknowledged in it. */
  private image: { level: number; disk: Buffer } | undefined;

  constructor(
    readonly sectors: number,
    initial: number,
  ) {
    this.history = Array.from({ length: sectors }, () => [{ value: initial, event: -1 }]);
    this.lastValue = ZERO_VALUE;
  }

  /** A value no write used yet (values only grow, far below LOWER_VALUE). */
  nextValue(): number {
    return ++this.lastValue;
  }

  get eventCount(): number {
    return this.events.length;
  }

  wrote(first: number, count: number, value: number, o: { fua: boolean; ok: boolean; end: number }): void {
    const event = this.events.length;
    this.events.push({ kind: "write", ...o });
    for (let s = first; s < first + count; s++) this.history[s]?.push({ value, event });
    this.flushEndFrom = undefined;
    this.image = undefined;
  }

  /** A flush (or close) resolved after `end` recorded operations; it covers the events before `covers`. */
  flushed(end: number, covers = this.events.length): void {
    this.events.push({ kind: "flush", end, covers });
    this.flushEndFrom = undefined;
    this.image = undefined;
  }

  private acknowledgedBy(event: number, prefix: number, flushEndFrom: number[]): boolean {
    const e = this.events[event];
    if (e?.kind !== "write" || !e.ok) return false;
    return (e.fua && e.end <= prefix) || (flushEndFrom[event] ?? Infinity) <= prefix;
  }

  private flushEnds(): number[] {
    if (this.flushEndFrom !== undefined) return this.flushEndFrom;
    // a flush covers events before its `covers`: the earliest such end, for each event
    const out = new Array<number>(this.events.length).fill(Infinity);
    for (const f of this.events) {
      if (f.kind !== "flush") continue;
      for (let e = 0; e < f.covers; e++) out[e] = Math.min(out[e] ?? Infinity, f.end);
    }
    this.flushEndFrom = out;
    return out;
  }

  /** The values sector `s` may hold after a crash once `prefix` operations were issued: the last acknowledged one first. */
  allowed(s: number, prefix: number): number[] {
    const h = this.history[s] ?? [];
    const ends = this.flushEnds();
    let from = 0;
    for (let k = h.length - 1; k > 0; k--) {
      const c = h[k];
      if (c !== undefined && this.acknowledgedBy(c.event, prefix, ends)) {
        from = k;
        break;
      }
    }
    return h.slice(from).map((c) => c.value);
  }

  /** The disk holding every sector's last acknowledged value at `prefix` (kept for the next call with the same acknowledgements). */
  private acknowledged(prefix: number): Buffer {
    const ends = this.flushEnds();
    const level = this.events.reduce((n, e, i) => n + (e.kind === "write" && this.acknowledgedBy(i, prefix, ends) ? 1 : 0), 0);
    if (this.image?.level === level) return this.image.disk;
    const disk = Buffer.allocUnsafe(this.sectors * SECTOR);
    for (let s = 0; s < this.sectors; s++) fillSector(disk, s * SECTOR, this.allowed(s, prefix)[0] ?? ZERO_VALUE, s);
    this.image = { level, disk };
    return disk;
  }

  /**
   * Why `disk` (the whole device, read after a crash at `prefix`) breaks a promise, or undefined
   * when it keeps them all; the sectors of `except` (written since, checked by the caller) are skipped.
   */
  check(disk: Buffer, prefix: number, except = { first: 0, count: 0 }): string | undefined {
    const acked = this.acknowledged(prefix);
    for (let s = 0; s < this.sectors; s++) {
      const at = s * SECTOR;
      // most sectors hold their acknowledged value: one native compare, or one for a whole run of them
      const runEnd = Math.min(at + RUN_SECTORS * SECTOR, acked.length);
      if (s % RUN_SECTORS === 0 && disk.compare(acked, at, runEnd, at, runEnd) === 0) {
        s += RUN_SECTORS - 1;
        continue;
      }
      if (disk.compare(acked, at, at + SECTOR, at, at + SECTOR) === 0) continue;
      if (s >= except.first && s < except.first + except.count) continue;
      const got = valueAt(disk, at, s);
      const allowed = this.allowed(s, prefix);
      if (got === undefined || !allowed.includes(got)) {
        return `sector ${s} holds ${got === undefined ? "bytes no write put there" : `write ${got}`}; acknowledged: write ${allowed[0]}, later: ${allowed.slice(1).join(", ") || "none"}`;
      }
    }
    return undefined;
  }
}
