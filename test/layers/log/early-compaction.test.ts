// Compaction copies a little with each write once free segments run low, so that no single
// write has to wait while whole segments are copied (FORMAT §18.8, early compaction).
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogDevice } from "../../../src/layers/log/log.js";
import { BLOCK, KEY, blockOf, prng, versionOf } from "./helpers.js";
import { MemFiles } from "../../../scripts/crash/mem-files.js";

test("under churn no one-block write reads more than a few blocks to compact, and the data stays intact", async () => {
  const blocks = 256;
  const segmentBytes = 256 * 1024; // 61 one-block records a segment
  const files = new MemFiles();
  const dev = await createLogDevice({ dir: "/log", key: KEY, size: blocks * BLOCK, segmentBytes, files });
  const ref = new Array<number>(blocks).fill(0);
  const rnd = prng(5);
  let worst = 0;
  for (let version = 1; version <= 12 * blocks; version++) {
    const b = rnd(blocks);
    ref[b] = version;
    const before = files.bytesRead;
    await dev.write(b * BLOCK, blockOf(b, version), { fua: false });
    worst = Math.max(worst, files.bytesRead - before);
    if (rnd(16) === 0) await dev.flush();
  }
  // a compaction that empties a victim in one go reads up to 90% of a segment (about 55 blocks)
  assert.ok(worst <= 16 * (BLOCK + 92), `one write read ${worst} bytes`);
  const all = await dev.read(0, blocks * BLOCK);
  for (let b = 0; b < blocks; b++) assert.equal(versionOf(b, all.subarray(b * BLOCK, (b + 1) * BLOCK)), ref[b], `block ${b}`);
  await dev.close();
});
