import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { openStick } from "../../src/chunkstore/open-stick.js";
import { ChunkInvalidError } from "../../src/errors/errors.js";
import { BaseDevice } from "../../src/layers/base-device.js";
import { adminKey, fastBuild, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

const CHUNK = 64 * 1024;

/** A stick of 12 random chunks, a base device over it that holds them all, and a way to ruin its pack. */
async function setup(t: Parameters<typeof tempDir>[0]): Promise<{ base: BaseDevice; bytes: Buffer; ruinPack: () => Promise<void> }> {
  const dir = await tempDir(t);
  const { path, bytes } = await writeImage(dir, [{ random: 12 * CHUNK }]);
  const out = join(dir, "stick");
  await fastBuild({ image: path, out, signingKey: await adminKey(dir) });
  const stick = await openStick(out, { passphrase: PASSPHRASE });
  t.after(() => stick.close());
  const pack = join(out, "chunks", "pack-00000000.svp");
  const ruinPack = async (): Promise<void> => {
    await writeFile(pack, Buffer.alloc((await readFile(pack)).length, 0x33));
  };
  return { base: new BaseDevice(stick.base, { cacheBytes: 12 * CHUNK }), bytes, ruinPack };
}

const chunkAt = (i: number): [number, number] => [i * CHUNK, 4096];

test("a reader going forward gets the chunks ahead of it read in the background", async (t) => {
  const { base, bytes, ruinPack } = await setup(t);
  // chunk 0, then 1 (window 2: chunks 2, 3), then 2 (window 4: chunks 3 to 6)
  for (const i of [0, 1, 2]) await base.read(...chunkAt(i));
  await sleep(200);
  await ruinPack();
  // only what was fetched ahead can still be read
  for (const i of [3, 4, 5, 6]) {
    const [offset, length] = chunkAt(i);
    assert.ok((await base.read(offset, length)).equals(bytes.subarray(offset, offset + length)), `chunk ${i}`);
  }
  await assert.rejects(base.read(...chunkAt(9)), ChunkInvalidError);
});

test("a reader jumping around gets nothing read ahead", async (t) => {
  const { base, ruinPack } = await setup(t);
  for (const i of [0, 5, 2, 9]) await base.read(...chunkAt(i));
  await sleep(200);
  await ruinPack();
  for (const i of [1, 3, 6, 10]) await assert.rejects(base.read(...chunkAt(i)), ChunkInvalidError, `chunk ${i} was not read ahead`);
});
