// File helpers for tests that damage or inspect sticks.
import { cp, open, stat } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "./sticks.js";

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Flips one bit of the byte at `offset`: the smallest damage a file can take. */
export async function flipBit(path: string, offset: number): Promise<void> {
  const fh = await open(path, "r+");
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, offset);
  b[0] = (b[0] ?? 0) ^ 0x10;
  await fh.write(b, 0, 1, offset);
  await fh.close();
}

/** A copy of a stick folder in a new temporary folder, for a test to damage. */
export async function copyOf(t: Parameters<typeof tempDir>[0], stick: string): Promise<string> {
  const dir = await tempDir(t);
  const out = join(dir, "stick");
  await cp(stick, out, { recursive: true });
  return out;
}
