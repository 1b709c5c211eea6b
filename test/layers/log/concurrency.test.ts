import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogDevice } from "../../../src/layers/log/log.js";
import { BLOCK, KEY, blockOf, prng, versionOf } from "./helpers.js";
import { MemFiles } from "../../../scripts/crash/mem-files.js";

// The NBD server runs a connection's requests concurrently (block-device.ts).

test("concurrent writes to different bytes of one block all land", async () => {
  const dev = await createLogDevice({ dir: "/log", key: KEY, size: 4 * BLOCK, segmentBytes: 64 * 1024, files: new MemFiles() });
  const writes = [];
  for (let i = 0; i < 64; i++) writes.push(dev.write(BLOCK + i * 64, Buffer.alloc(64, i + 1), { fua: i % 16 === 0 }));
  await Promise.all(writes);
  const got = await dev.read(BLOCK, BLOCK);
  for (let i = 0; i < 64; i++) assert.ok(got.subarray(i * 64, (i + 1) * 64).equals(Buffer.alloc(64, i + 1)), `piece ${i}`);
  await dev.close();
});

test("reads racing writes, flushes and compaction see acknowledged data", async () => {
  const blocks = 64;
  const dev = await createLogDevice({ dir: "/log", key: KEY, size: blocks * BLOCK, segmentBytes: 64 * 1024, files: new MemFiles() });
  const ref = new Array<number>(blocks).fill(0);
  const rnd = prng(5);
  let version = 0;
  for (let batch = 0; batch < 150; batch++) {
    const order = [...ref.keys()];
    for (let i = order.length - 1; i > 0; i--) {
      const j = rnd(i + 1);
      [order[i], order[j]] = [order[j] ?? 0, order[i] ?? 0];
    }
    const toWrite = order.slice(0, 8);
    const toRead = order.slice(8, 16);
    const jobs: Promise<void>[] = [];
    for (const b of toWrite) {
      const v = ++version;
      ref[b] = v;
      jobs.push(dev.write(b * BLOCK, blockOf(b, v), { fua: false }));
    }
    for (const b of toRead) {
      const want = ref[b];
      jobs.push(
        dev.read(b * BLOCK, BLOCK).then((data) => {
          assert.equal(versionOf(b, data), want, `batch ${batch}, block ${b}`);
        }),
      );
    }
    if (batch % 5 === 0) jobs.push(dev.flush());
    await Promise.all(jobs);
  }
  const all = await dev.read(0, blocks * BLOCK);
  for (let b = 0; b < blocks; b++) assert.equal(versionOf(b, all.subarray(b * BLOCK, (b + 1) * BLOCK)), ref[b]);
  await dev.close();
});
