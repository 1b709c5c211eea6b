// Shared pieces of the log tests: a seeded PRNG (the crash tester's), recognisable block contents, a reference disk.
export const KEY = Buffer.alloc(32, 7);
export const BLOCK = 4096;

export { prng } from "../../../scripts/crash/prng.js";

/** A block that says which block it belongs to and which version it is; version 0 is zeros. */
export function blockOf(block: number, version: number): Buffer {
  const b = Buffer.alloc(BLOCK);
  if (version === 0) return b;
  for (let i = 0; i < BLOCK; i += 8) {
    b.writeUInt32LE(version, i);
    b.writeUInt32LE(block, i + 4);
  }
  return b;
}

/** The version a block holds, or undefined if it is not a block made by blockOf for this block. */
export function versionOf(block: number, data: Buffer): number | undefined {
  const v = data.readUInt32LE(0);
  return blockOf(block, v).equals(data) ? v : undefined;
}
