// An in-memory StoreFiles that records every write, sync, creation and removal, for crash-state
// tests: a crash state is the files as they were when recording started, plus a prefix of the
// recorded operations in which what no sync made durable yet may be dropped, kept, or torn.
import { dirname } from "node:path";
import type { StoreFile, StoreFiles } from "../../src/util/store-files.js";

export type FileOp =
  | { kind: "write"; path: string; position: number; data: Buffer }
  | { kind: "sync"; path: string }
  | { kind: "create"; path: string; size: number }
  | { kind: "remove"; path: string }
  | { kind: "syncFolder"; path: string };

export class MemFiles implements StoreFiles {
  readonly files: Map<string, Buffer>;
  readonly ops: FileOp[] = [];
  bytesRead = 0;
  bytesWritten = 0;
  recording = false;

  /** Buffers shared with someone else (`share`): copied before their first write. */
  private readonly shared = new Set<string>();

  /** Starts with copies of `files`, or (`share`) with their buffers, copied only when written. */
  constructor(files?: Map<string, Buffer>, share = false) {
    const start = files ?? new Map<string, Buffer>();
    this.files = share ? new Map(start) : copyFiles(start);
    if (share) for (const path of start.keys()) this.shared.add(path);
  }

  snapshot(): Map<string, Buffer> {
    return copyFiles(this.files);
  }

  private note(op: FileOp): void {
    if (this.recording) this.ops.push(op);
  }

  open(path: string): Promise<StoreFile> {
    if (!this.files.has(path)) return Promise.reject(new Error(`ENOENT: ${path}`));
    const get = (): Buffer => this.files.get(path) ?? Buffer.alloc(0);
    return Promise.resolve({
      read: (buffer: Buffer, position: number) => {
        const n = Math.max(0, Math.min(buffer.length, get().length - position));
        get().copy(buffer, 0, position, position + n);
        this.bytesRead += n;
        return Promise.resolve(n);
      },
      write: (data: Buffer, position: number) => {
        const file = this.shared.delete(path) ? Buffer.from(get()) : get();
        this.files.set(path, applyWrite(file, position, data));
        this.bytesWritten += data.length;
        this.note({ kind: "write", path, position, data: Buffer.from(data) });
        return Promise.resolve();
      },
      sync: () => {
        this.note({ kind: "sync", path });
        return Promise.resolve();
      },
      close: () => Promise.resolve(),
    });
  }

  /** As Node's: the new file's name, then its head written, then a sync of the file (not of its folder). */
  create(path: string, size: number, head: Buffer): Promise<void> {
    if (this.files.has(path)) return Promise.reject(new Error(`EEXIST: ${path}`));
    const b = Buffer.alloc(size);
    head.copy(b);
    this.files.set(path, b);
    this.shared.delete(path);
    this.note({ kind: "create", path, size });
    if (head.length > 0) this.note({ kind: "write", path, position: 0, data: Buffer.from(head) });
    this.note({ kind: "sync", path });
    return Promise.resolve();
  }

  readAll(path: string): Promise<Buffer | undefined> {
    const b = this.files.get(path);
    return Promise.resolve(b === undefined ? undefined : Buffer.from(b));
  }

  remove(path: string): Promise<void> {
    this.shared.delete(path);
    if (this.files.delete(path)) this.note({ kind: "remove", path });
    return Promise.resolve();
  }

  size(path: string): Promise<number | undefined> {
    return Promise.resolve(this.files.get(path)?.length);
  }

  ensureFolder(): Promise<void> {
    return Promise.resolve();
  }

  syncFolder(path: string): Promise<void> {
    this.note({ kind: "syncFolder", path });
    return Promise.resolve();
  }
}

function copyFiles(files: Map<string, Buffer>): Map<string, Buffer> {
  return new Map([...files].map(([k, v]) => [k, Buffer.from(v)]));
}

/** `file` with `data` written at `position` (grown with zeros when the write ends past it). */
function applyWrite(file: Buffer, position: number, data: Buffer): Buffer {
  const out = file.length >= position + data.length ? file : Buffer.concat([file, Buffer.alloc(position + data.length - file.length)]);
  data.copy(out, position);
  return out;
}

export const SECTOR = 512;

export interface CrashChoice {
  /** Keep this operation, which no sync in the prefix made durable (a write, a creation, a removal)? */
  keepUnsynced: (opIndex: number) => boolean;
  /** Of a kept unsynced write, keep only the sectors (512 bytes of the file) this says; all of them when absent. */
  keepSector?: (opIndex: number, sector: number) => boolean;
  /** Of the last kept unsynced write, keep only this many bytes (a torn write); undefined keeps it whole. */
  tornBytes?: number;
}

/**
 * Which operations of `ops[0, prefix)` are durable: a write once its file is synced after it, a
 * creation or removal once its folder is synced after it. The kernel may have written any other.
 */
export function durableOps(ops: FileOp[], prefix: number): boolean[] {
  const durable = new Array<boolean>(prefix).fill(false);
  const synced = new Set<string>();
  const foldersSynced = new Set<string>();
  for (let i = prefix - 1; i >= 0; i--) {
    const op = ops[i];
    if (op === undefined) continue;
    if (op.kind === "sync") synced.add(op.path);
    else if (op.kind === "syncFolder") foldersSynced.add(op.path);
    else if (op.kind === "write") durable[i] = synced.has(op.path);
    else durable[i] = foldersSynced.has(dirname(op.path));
  }
  return durable;
}

/** The files after a crash once `prefix` operations had been issued; files no kept operation changed are `base`'s own buffers. */
export function crashState(base: Map<string, Buffer>, ops: FileOp[], prefix: number, choice: CrashChoice): Map<string, Buffer> {
  const durable = durableOps(ops, prefix);
  const kept: number[] = [];
  for (let i = 0; i < prefix; i++) {
    const op = ops[i];
    if (op === undefined || op.kind === "sync" || op.kind === "syncFolder") continue;
    if (durable[i] === true || choice.keepUnsynced(i)) kept.push(i);
  }
  const lastUnsynced = [...kept].reverse().find((i) => ops[i]?.kind === "write" && durable[i] !== true);
  const files = new Map<string, Buffer>();
  // the base's buffers are copied when first changed; the others are shared, read only
  const owned = new Set<string>();
  for (const [path, b] of base) files.set(path, b);
  for (const i of kept) {
    const op = ops[i];
    if (op === undefined) continue;
    if (op.kind === "create") {
      files.set(op.path, Buffer.alloc(op.size));
      owned.add(op.path);
    } else if (op.kind === "remove") {
      files.delete(op.path);
    } else if (op.kind === "write") {
      const file = files.get(op.path);
      if (file === undefined) continue; // its creation was lost
      const own = owned.has(op.path) ? file : Buffer.from(file);
      owned.add(op.path);
      let data = op.data;
      if (i === lastUnsynced && choice.tornBytes !== undefined) data = data.subarray(0, Math.min(choice.tornBytes, data.length));
      files.set(op.path, durable[i] === true || choice.keepSector === undefined ? applyWrite(own, op.position, data) : applySectors(own, op.position, data, (s) => choice.keepSector?.(i, s) === true));
    }
  }
  return files;
}

/** Applies the sectors of a write that `keep` says reached the disk; the file grows to the write's end either way. */
function applySectors(file: Buffer, position: number, data: Buffer, keep: (sector: number) => boolean): Buffer {
  const out = applyWrite(file, position + data.length, Buffer.alloc(0));
  for (let at = position; at < position + data.length; ) {
    const sector = Math.floor(at / SECTOR);
    const end = Math.min(position + data.length, (sector + 1) * SECTOR);
    if (keep(sector)) data.copy(out, at, at - position, end - position);
    at = end;
  }
  return out;
}

/**
 * crashState for prefixes taken in increasing order, faster: the writes already durable are
 * applied once, to an image kept from state to state, and a state copies only the files its
 * unsynced writes change. Runs that create or remove files are built by crashState each time.
 */
export class CrashStates {
  private readonly image: Map<string, Buffer>;
  /** Per file, the writes not yet durable at `prefix`, in order. */
  private readonly pending = new Map<string, number[]>();
  private prefix = 0;
  private readonly simple: boolean;

  constructor(
    private readonly base: Map<string, Buffer>,
    private readonly ops: FileOp[],
  ) {
    this.simple = ops.every((op) => op.kind === "write" || op.kind === "sync" || op.kind === "syncFolder");
    this.image = copyFiles(base);
  }

  /** The files after a crash once `prefix` operations had been issued (prefixes must not decrease); files are shared, read only. */
  at(prefix: number, choice: CrashChoice): Map<string, Buffer> {
    if (!this.simple) return crashState(this.base, this.ops, prefix, choice);
    if (prefix < this.prefix) throw new Error("crash states must be asked for in increasing prefix order");
    for (; this.prefix < prefix; this.prefix++) this.advance(this.prefix);
    const unsynced = [...this.pending.values()].flat().sort((a, b) => a - b);
    const kept = unsynced.filter((i) => choice.keepUnsynced(i));
    const last = kept.at(-1);
    const files = new Map(this.image);
    const copied = new Set<string>();
    for (const i of kept) {
      const op = this.ops[i];
      if (op?.kind !== "write") continue;
      const file = files.get(op.path);
      if (file === undefined) continue;
      const own = copied.has(op.path) ? file : Buffer.from(file);
      copied.add(op.path);
      const data = i === last && choice.tornBytes !== undefined ? op.data.subarray(0, Math.min(choice.tornBytes, op.data.length)) : op.data;
      files.set(op.path, choice.keepSector === undefined ? applyWrite(own, op.position, data) : applySectors(own, op.position, data, (s) => choice.keepSector?.(i, s) === true));
    }
    return files;
  }

  /** Takes operation `i` into the prefix: a write waits for its sync; a sync makes its file's waiting writes durable. */
  private advance(i: number): void {
    const op = this.ops[i];
    if (op?.kind === "write") {
      const list = this.pending.get(op.path) ?? [];
      list.push(i);
      this.pending.set(op.path, list);
    } else if (op?.kind === "sync") {
      for (const w of this.pending.get(op.path) ?? []) {
        const write = this.ops[w];
        const file = this.image.get(op.path);
        if (write?.kind === "write" && file !== undefined) this.image.set(op.path, applyWrite(file, write.position, write.data));
      }
      this.pending.delete(op.path);
    }
  }
}
