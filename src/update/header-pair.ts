import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { STICK_FILES } from "../../stick-layout/format.js";
import { encodeHeaderCopy, HEADER_COPY_BYTES, type StickHeader } from "../../stick-layout/header.js";
import { fileError } from "../errors/errors.js";

// The two header copies rewritten in place, one at a time (FORMAT.md §27.4): the copy not being
// written is the fallback, so a torn write leaves one good copy.

async function writeCopy(stickDir: string, slot: number, copy: Buffer): Promise<void> {
  const path = join(stickDir, STICK_FILES.header);
  try {
    const fh = await open(path, "r+");
    try {
      await fh.write(copy, 0, HEADER_COPY_BYTES, slot * HEADER_COPY_BYTES);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw fileError(err, "write", path);
  }
}

async function copiesOnStick(stickDir: string): Promise<Buffer[]> {
  const path = join(stickDir, STICK_FILES.header);
  try {
    const file = await readFile(path);
    return [0, 1].map((slot) => file.subarray(slot * HEADER_COPY_BYTES, (slot + 1) * HEADER_COPY_BYTES));
  } catch (err) {
    throw fileError(err, "read", path);
  }
}

/** Makes both copies `header`'s, rewriting only a copy that differs (an apply cut short, a damaged copy). Returns the slots written. */
export async function completeHeaderPair(stickDir: string, header: StickHeader, macKey: Uint8Array): Promise<number[]> {
  const want = encodeHeaderCopy(header, macKey);
  const copies = await copiesOnStick(stickDir);
  const written = [];
  for (const slot of [0, 1]) {
    if (copies[slot]?.equals(want) === true) continue;
    await writeCopy(stickDir, slot, want);
    written.push(slot);
  }
  return written;
}

/** Writes `header` into one slot only. */
export async function writeHeaderSlot(stickDir: string, slot: number, header: StickHeader, macKey: Uint8Array): Promise<void> {
  await writeCopy(stickDir, slot, encodeHeaderCopy(header, macKey));
}
