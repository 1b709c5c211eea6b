import { open, rm } from "node:fs/promises";
import { fileError } from "../errors/errors.js";

/** Creates a new file (never overwrites), writes it whole and syncs it before returning. */
export async function writeNewFileDurably(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  let fh;
  try {
    fh = await open(path, "wx", mode);
  } catch (err) {
    throw fileError(err, "create", path);
  }
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(path, { force: true }).catch(() => undefined); // leave no partial file that could pass for a whole one
    throw fileError(err, "write", path);
  }
  await fh.close();
}

/** Syncs a folder so that the names created in it survive a power cut (a no-op where folders cannot be opened). */
export async function syncFolder(path: string): Promise<void> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch {
    return;
  }
  try {
    await fh.sync();
  } catch {
    // some file systems (and Windows) refuse to sync a folder; the files themselves are synced
  } finally {
    await fh.close();
  }
}

/** fsyncs a file that is already written (by another program). */
export async function syncFile(path: string): Promise<void> {
  let fh;
  try {
    fh = await open(path, "r+");
    await fh.sync();
  } catch (err) {
    throw fileError(err, "sync", path);
  } finally {
    await fh?.close();
  }
}
