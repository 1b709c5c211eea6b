// Shared pieces of the log tests: a seeded PRNG, recognisable block contents, a reference disk.
export const KEY = Buffer.alloc(32, 7);
export const BLOCK = 4096;

/** mulberry32: small, fast, and the same sequence for the same seed on every run. */
export function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

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
