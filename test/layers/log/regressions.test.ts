// Regression cases from review: each failed before its fix.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ChunkInvalidError } from "../../../src/errors/errors.js";
import type { BlockDevice } from "../../../src/layers/block-device.js";
import { createLogDevice } from "../../../src/layers/log/log.js";
import { ZeroDevice } from "../../../src/layers/zero-device.js";
import { BLOCK, blockOf, KEY, prng, versionOf } from "./helpers.js";
import { MemFiles } from "../../../scripts/crash/mem-files.js";

const SEGMENT = 64 * 1024;

test("one damaged block does not stop compaction, and writes elsewhere keep working", async () => {
  const files = new MemFiles();
  const blocks = 24;
  const dev = await createLogDevice({ dir: "/log", key: KEY, size: blocks * BLOCK, segmentBytes: SEGMENT, files });
  for (let b = 0; b < blocks; b++) await dev.write(b * BLOCK, blockOf(b, 1), { fua: false });
  await dev.flush();
  // damage block 0's sealed bytes in segment 0 (first record: head 32 + descriptor 32 after the 4 KiB segment header)
  const seg = files.files.get("/log/segment-00000000.bin");
  assert.ok(seg !== undefined);
  seg[4096 + 64 + 100] = (seg[4096 + 64 + 100] ?? 0) ^ 1;
  const version = new Array<number>(blocks).fill(1);
  // random overwrites of the other blocks leave segments partly live, so compaction runs,
  // and segment 0 (one live, damaged block) is the emptiest victim it can find
  const next = prng(3);
  for (let i = 0; i < 1500; i++) {
    const b = 1 + next(blocks - 1);
    version[b] = (version[b] ?? 0) + 1;
    await dev.write(b * BLOCK, blockOf(b, version[b] ?? 0), { fua: false });
    if (i % 16 === 15) await dev.flush();
  }
  for (let b = 1; b < blocks; b++) assert.equal(versionOf(b, await dev.read(b * BLOCK, BLOCK)), version[b], `block ${b}`);
  await dev.close();
});

test("a log whose creation was interrupted before its superblock can be created again", async () => {
  const files = new MemFiles();
  const first = await createLogDevice({ dir: "/log", key: KEY, size: 16 * BLOCK, segmentBytes: SEGMENT, files });
  await first.close();
  files.files.delete("/log/superblock.bin"); // as if the creation stopped just before its commit point
  const again = await createLogDevice({ dir: "/log", key: KEY, size: 16 * BLOCK, segmentBytes: SEGMENT, files });
  await again.write(0, blockOf(0, 5), { fua: true });
  assert.equal(versionOf(0, await again.read(0, BLOCK)), 5);
  await again.close();
});

/** A lower device whose reads fail, as a damaged base chunk would (a fault-injection layer). */
class FailingReads extends ZeroDevice implements BlockDevice {
  override read(): Promise<Buffer> {
    return Promise.reject(new ChunkInvalidError("base", "pack-00000000.svp offset 16", "damaged"));
  }
}

test("a read error from the lower device fails only its own write", async () => {
  const files = new MemFiles();
  const size = 16 * BLOCK;
  const dev = await createLogDevice({ dir: "/log", key: KEY, size, segmentBytes: SEGMENT, files, lower: new FailingReads(size) });
  // an unaligned write must read the rest of its block from below: it fails
  await assert.rejects(dev.write(100, Buffer.alloc(10, 1), { fua: false }), ChunkInvalidError);
  // a whole-block write and a flush still work
  await dev.write(BLOCK, blockOf(1, 3), { fua: false });
  await dev.flush();
  assert.equal(versionOf(1, await dev.read(BLOCK, BLOCK)), 3);
  await dev.close();
});
