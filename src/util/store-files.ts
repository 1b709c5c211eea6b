import { type FileHandle, mkdir, open, readFile, rm, stat } from "node:fs/promises";
import { fileError } from "../errors/errors.js";
import { syncFolder } from "./durable-file.js";

// The only file operations the stick's mutable stores use (the user and system-changes logs,
// the residue journal, the boot profile slots). Everything goes through this interface, so the
// crash-state tester (scripts/crash/) can record every write and sync and replay any prefix.

export interface StoreFile {
  /** Reads up to buffer.length bytes at position; returns how many were read (fewer at the end). */
  read(buffer: Buffer, position: number): Promise<number>;
  /** Writes all of data at position. */
  write(data: Buffer, position: number): Promise<void>;
  /** Makes every earlier write to this file durable (fdatasync: sizes never change after creation). */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface StoreFiles {
  /** Opens an existing file for reading and writing. */
  open(path: string): Promise<StoreFile>;
  /** Creates a new file (never replaces one; mode 0600) of `size` bytes starting with `head`, zeros after it, synced. */
  create(path: string, size: number, head: Buffer): Promise<void>;
  /** The whole file, or undefined when it does not exist. */
  readAll(path: string): Promise<Buffer | undefined>;
  /** The file's size, or undefined when it does not exist. */
  size(path: string): Promise<number | undefined>;
  /** Creates the folder if needed and makes the names created in it durable. */
  ensureFolder(path: string): Promise<void>;
  /** Removes a file if it exists (what an interrupted creation left). */
  remove(path: string): Promise<void>;
  syncFolder(path: string): Promise<void>;
}

class NodeStoreFile implements StoreFile {
  constructor(
    private readonly fh: FileHandle,
    private readonly path: string,
  ) {}

  async read(buffer: Buffer, position: number): Promise<number> {
    try {
      let done = 0;
      while (done < buffer.length) {
        const { bytesRead } = await this.fh.read(buffer, done, buffer.length - done, position + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done;
    } catch (err) {
      throw fileError(err, "read", this.path);
    }
  }

  async write(data: Buffer, position: number): Promise<void> {
    try {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await this.fh.write(data, done, data.length - done, position + done);
        done += bytesWritten;
      }
    } catch (err) {
      throw fileError(err, "write", this.path);
    }
  }

  async sync(): Promise<void> {
    try {
      await this.fh.datasync();
    } catch (err) {
      throw fileError(err, "sync", this.path);
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** Node's fs/promises. `create` sets the size with truncate, which allocates clusters on FAT/exFAT. */
export const nodeFiles: StoreFiles = {
  async open(path) {
    try {
      return new NodeStoreFile(await open(path, "r+"), path);
    } catch (err) {
      throw fileError(err, "open", path);
    }
  },
  async create(path, size, head) {
    let fh: FileHandle;
    try {
      fh = await open(path, "wx", 0o600);
    } catch (err) {
      throw fileError(err, "create", path);
    }
    try {
      await fh.truncate(size);
      await fh.write(head, 0, head.length, 0);
      await fh.datasync();
    } catch (err) {
      throw fileError(err, "write", path);
    } finally {
      await fh.close();
    }
  },
  async readAll(path) {
    try {
      return await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw fileError(err, "read", path);
    }
  },
  async size(path) {
    try {
      return (await stat(path)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw fileError(err, "look at", path);
    }
  },
  async ensureFolder(path) {
    try {
      await mkdir(path, { recursive: true });
    } catch (err) {
      throw fileError(err, "create the folder", path);
    }
  },
  async remove(path) {
    try {
      await rm(path, { force: true });
    } catch (err) {
      throw fileError(err, "remove", path);
    }
  },
  syncFolder,
};
