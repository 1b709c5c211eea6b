// An in-memory LogFiles that records every write and sync, for crash-state tests: a crash
// state is the files as they were when recording started, plus a prefix of the recorded
// operations in which writes not yet followed by a sync of their file may be dropped or torn.
import type { LogFile, LogFiles } from "../../../src/layers/log/files.js";

export type FileOp = { kind: "write"; path: string; position: number; data: Buffer } | { kind: "sync"; path: string };

export class MemFiles implements LogFiles {
  readonly files: Map<string, Buffer>;
  readonly ops: FileOp[] = [];
  bytesRead = 0;
  bytesWritten = 0;
  recording = false;

  constructor(files?: Map<string, Buffer>) {
    this.files = new Map([...(files ?? new Map<string, Buffer>())].map(([k, v]) => [k, Buffer.from(v)]));
  }

  snapshot(): Map<string, Buffer> {
    return new Map([...this.files].map(([k, v]) => [k, Buffer.from(v)]));
  }

  open(path: string): Promise<LogFile> {
    if (!this.files.has(path)) return Promise.reject(new Error(`ENOENT: ${path}`));
    const fs = this.files;
    const get = (): Buffer => fs.get(path) ?? Buffer.alloc(0);
    return Promise.resolve({
      read: (buffer: Buffer, position: number) => {
        const n = Math.max(0, Math.min(buffer.length, get().length - position));
        get().copy(buffer, 0, position, position + n);
        this.bytesRead += n;
        return Promise.resolve(n);
      },
      write: (data: Buffer, position: number) => {
        this.apply(path, position, data);
        this.bytesWritten += data.length;
        if (this.recording) this.ops.push({ kind: "write", path, position, data: Buffer.from(data) });
        return Promise.resolve();
      },
      sync: () => {
        if (this.recording) this.ops.push({ kind: "sync", path });
        return Promise.resolve();
      },
      close: () => Promise.resolve(),
    });
  }

  private apply(path: string, position: number, data: Buffer): void {
    this.files.set(path, applyWrite(this.files.get(path) ?? Buffer.alloc(0), position, data));
  }

  create(path: string, size: number, head: Buffer): Promise<void> {
    if (this.files.has(path)) return Promise.reject(new Error(`EEXIST: ${path}`));
    const b = Buffer.alloc(size);
    head.copy(b);
    this.files.set(path, b);
    return Promise.resolve();
  }

  remove(path: string): Promise<void> {
    this.files.delete(path);
    return Promise.resolve();
  }

  size(path: string): Promise<number | undefined> {
    return Promise.resolve(this.files.get(path)?.length);
  }

  ensureFolder(): Promise<void> {
    return Promise.resolve();
  }

  syncFolder(): Promise<void> {
    return Promise.resolve();
  }
}

function applyWrite(file: Buffer, position: number, data: Buffer): Buffer {
  const out = file.length >= position + data.length ? file : Buffer.concat([file, Buffer.alloc(position + data.length - file.length)]);
  data.copy(out, position);
  return out;
}

export interface CrashChoice {
  /** Keep this write, which no sync in the prefix made durable? */
  keepUnsynced: (opIndex: number) => boolean;
  /** Of the last kept unsynced write, keep only this many bytes (a torn write); undefined keeps it whole. */
  tornBytes?: number;
}

/** The files after a crash once `prefix` operations had been issued. */
export function crashState(base: Map<string, Buffer>, ops: FileOp[], prefix: number, choice: CrashChoice): Map<string, Buffer> {
  const lastSync = new Map<string, number>();
  for (let i = 0; i < prefix; i++) {
    const op = ops[i];
    if (op?.kind === "sync") lastSync.set(op.path, i);
  }
  const kept: number[] = [];
  for (let i = 0; i < prefix; i++) {
    const op = ops[i];
    if (op?.kind !== "write") continue;
    const durable = (lastSync.get(op.path) ?? -1) > i;
    if (durable || choice.keepUnsynced(i)) kept.push(i);
  }
  const lastUnsynced = [...kept].reverse().find((i) => {
    const op = ops[i];
    return op?.kind === "write" && (lastSync.get(op.path) ?? -1) < i;
  });
  const files = new Map<string, Buffer>([...base].map(([k, v]) => [k, Buffer.from(v)]));
  for (const i of kept) {
    const op = ops[i];
    if (op?.kind !== "write") continue;
    const data = i === lastUnsynced && choice.tornBytes !== undefined ? op.data.subarray(0, Math.min(choice.tornBytes, op.data.length)) : op.data;
    files.set(op.path, applyWrite(files.get(op.path) ?? Buffer.alloc(0), op.position, data));
  }
  return files;
}
