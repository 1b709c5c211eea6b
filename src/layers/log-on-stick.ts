import { stat } from "node:fs/promises";
import { join } from "node:path";
import { fileError } from "../errors/errors.js";
import type { BlockDevice } from "./block-device.js";
import { DEFAULT_SEGMENT_BYTES, SUPERBLOCK_FILE } from "./log/format.js";
import { createLogDevice, defaultSegmentCount, openLogDevice } from "./log/log.js";
import { ZeroDevice } from "./zero-device.js";

// The logs a stick keeps in folders of its own (FORMAT.md "User log"): the user disk's,
// made by make-stick build, and the persistent system changes', made on first use.

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw fileError(err, "check", path);
  }
}

/** Segments for `capacity` bytes of writes to a disk of `size` bytes. */
function segmentsFor(size: number, capacity: number): number {
  return defaultSegmentCount(Math.min(capacity, size), DEFAULT_SEGMENT_BYTES);
}

/** Makes the log files in `dir` for a disk of `size` bytes, room for `capacity` bytes of writes. */
export async function makeLogOnStick(dir: string, key: Buffer, size: number, capacity: number): Promise<void> {
  const log = await createLogDevice({ dir, key, size, lower: new ZeroDevice(size), segmentCount: segmentsFor(size, capacity) });
  await log.close();
}

/** The log in `dir` over `lower`; made first when the folder holds none (a stick made before logs were made at build). */
export async function openLogOnStick(dir: string, key: Buffer, lower: BlockDevice, capacity: number): Promise<BlockDevice> {
  if (await exists(join(dir, SUPERBLOCK_FILE))) return openLogDevice({ dir, key, lower });
  return createLogDevice({ dir, key, size: lower.size, lower, segmentCount: segmentsFor(lower.size, capacity) });
}
