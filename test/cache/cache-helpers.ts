// Sticks and sessions for the host cache's tests.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { openStick, type OpenStick } from "../../src/chunkstore/open-stick.js";
import { manifestEntry, ZERO_CHUNK_ID } from "../../stick-layout/manifest.js";
import { adminKey, fastBuild, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

export const CHUNK = 64 * 1024;

type T = Parameters<typeof tempDir>[0];

/** A stick of `chunks` random chunks (none repeat, none compress) with this policy. */
export async function cacheStick(t: T, chunks: number, policy: Record<string, unknown> = {}): Promise<{ stick: string; bytes: Buffer; dir: string }> {
  const dir = await tempDir(t);
  const { path, bytes } = await writeImage(dir, [{ random: chunks * CHUNK }]);
  const policyPath = join(dir, "policy.json");
  await writeFile(policyPath, JSON.stringify(policy));
  const stick = join(dir, "stick");
  await fastBuild({ image: path, out: stick, signingKey: await adminKey(dir), policy: policyPath });
  return { stick, bytes, dir };
}

/** Opens a stick with its host cache under `root`, collecting warnings. */
export async function openCached(stick: string, root: string, warnings: string[] = []): Promise<OpenStick> {
  return openStick(stick, { passphrase: PASSPHRASE }, { hostCache: { dir: root, defaultDir: join(root, "not-this-one"), warn: (m) => warnings.push(m) } });
}

/** The stored ids of the base, in disk order. */
export function baseIds(s: OpenStick): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < s.manifest.entries.length / 32; i++) {
    const id = manifestEntry(s.manifest, i);
    if (!id.equals(ZERO_CHUNK_ID)) out.push(Buffer.from(id));
  }
  return out;
}

/** Reads the base chunk by chunk, in order, each read awaited (so eviction order is the read order). */
export async function readInOrder(s: OpenStick, bytes: Buffer, chunks: Iterable<number>): Promise<void> {
  for (const i of chunks) {
    const got = await s.base.read(i * CHUNK, CHUNK);
    if (!got.equals(bytes.subarray(i * CHUNK, (i + 1) * CHUNK))) throw new Error(`chunk ${i} read back wrong`);
  }
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
