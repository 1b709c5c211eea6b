import assert from "node:assert/strict";
import { open, rename } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { openStick } from "../../src/chunkstore/open-stick.js";
import { ChunkInvalidError, CorruptStickError } from "../../src/errors/errors.js";
import { adminKey, fastBuild, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

const CHUNK = 64 * 1024;

async function builtStick(t: Parameters<typeof tempDir>[0]): Promise<{ out: string; bytes: Buffer }> {
  const dir = await tempDir(t);
  const { path, bytes } = await writeImage(dir, [{ random: 6 * CHUNK }]);
  const out = join(dir, "stick");
  await fastBuild({ image: path, out, signingKey: await adminKey(dir) });
  return { out, bytes };
}

test("a damaged record fails only its own chunk, naming its pack and offset; the threads keep serving", async (t) => {
  const { out, bytes } = await builtStick(t);
  const stick = await openStick(out, { passphrase: PASSPHRASE });
  t.after(() => stick.close());
  const loc = stick.store.locate(stick.manifest.entries.subarray(2 * 32, 3 * 32));
  assert.ok(loc !== undefined);
  const fh = await open(join(out, "chunks", "pack-00000000.svp"), "r+");
  await fh.write(Buffer.from([0xff ^ 0x42]), 0, 1, loc.offset + loc.length - 20);
  await fh.close();
  await assert.rejects(stick.base.read(2 * CHUNK, 4096), (err: unknown) => {
    assert.ok(err instanceof ChunkInvalidError, String(err));
    assert.match(err.message, new RegExp(`pack-00000000\\.svp offset ${loc.offset} is damaged: it does not decrypt`));
    return true;
  });
  // the chunks around it, read many at once, are still right
  const reads = [0, 1, 3, 4, 5].map(async (i) => ({ i, data: await stick.base.read(i * CHUNK, CHUNK) }));
  for (const { i, data } of await Promise.all(reads)) assert.ok(data.equals(bytes.subarray(i * CHUNK, (i + 1) * CHUNK)), `chunk ${i}`);
});

test("a missing pack is a damaged stick, and reads work again when it is back", async (t) => {
  const { out, bytes } = await builtStick(t);
  const stick = await openStick(out, { passphrase: PASSPHRASE });
  t.after(() => stick.close());
  const pack = join(out, "chunks", "pack-00000000.svp");
  await rename(pack, `${pack}.away`);
  await assert.rejects(stick.base.read(0, 512), (err: unknown) => err instanceof CorruptStickError && /pack-00000000\.svp is missing/.test(err.message));
  await rename(`${pack}.away`, pack);
  assert.ok((await stick.base.read(0, 512)).equals(bytes.subarray(0, 512)));
});

test("reads after close are refused, not left waiting", async (t) => {
  const { out } = await builtStick(t);
  const stick = await openStick(out, { passphrase: PASSPHRASE });
  await stick.close();
  await assert.rejects(stick.base.read(0, 512), /closed/);
});
