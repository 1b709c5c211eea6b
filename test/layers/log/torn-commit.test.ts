// A commit and the data records it commits are written with one pwrite and made durable by one
// sync (FORMAT §18.8), so a crash may leave the commit record on the stick without all of the
// data before it. Replay must then stop at the previous commit: these cases build such states.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogDevice, openLogDevice } from "../../../src/layers/log/log.js";
import { BLOCK, KEY, blockOf, versionOf } from "./helpers.js";
import { MemFiles, crashState, type FileOp } from "../../../scripts/crash/mem-files.js";

const BLOCKS = 32;
const SEGMENT = 1024 * 1024;
/** Blocks of one full data record (MAX_RECORD_BLOCKS): sealed as one value. */
const RECORD = 16;

function blocksOf(first: number, count: number, version: number): Buffer {
  return Buffer.concat(Array.from({ length: count }, (_, k) => blockOf(first + k, version)));
}

/** A log holding version 1 of blocks [0, 2·RECORD), committed; then the ops of writing version 2 of them and flushing. */
async function secondWrite(): Promise<{ base: Map<string, Buffer>; ops: FileOp[] }> {
  const files = new MemFiles();
  const dev = await createLogDevice({ dir: "/log", key: KEY, size: BLOCKS * BLOCK, segmentBytes: SEGMENT, files });
  await dev.write(0, blocksOf(0, 2 * RECORD, 1), { fua: true });
  const base = files.snapshot();
  files.recording = true;
  await dev.write(0, blocksOf(0, 2 * RECORD, 2), { fua: false });
  await dev.flush();
  files.recording = false;
  return { base, ops: files.ops };
}

async function versionsAfter(files: Map<string, Buffer>): Promise<(number | undefined)[]> {
  const log = await openLogDevice({ dir: "/log", key: KEY, files: new MemFiles(files) });
  const all = await log.read(0, 2 * RECORD * BLOCK);
  await log.close();
  return Array.from({ length: 2 * RECORD }, (_, b) => versionOf(b, all.subarray(b * BLOCK, (b + 1) * BLOCK)));
}

test("one pwrite and one sync per flush: the data records and their commit together", async () => {
  const { ops } = await secondWrite();
  const kinds = ops.map((op) => `${op.kind} ${op.path.replace("/log/", "")}`);
  assert.deepEqual(kinds, ["write segment-00000000.bin", "sync segment-00000000.bin"]);
});

test("a flush's write cut anywhere, the commit record last or missing, leaves the previous commit", async () => {
  const { base, ops } = await secondWrite();
  const write = ops[0];
  assert.ok(write?.kind === "write");
  // two records of 16 blocks (65,628 bytes each), then the commit record (60 bytes)
  assert.equal(write.data.length, 2 * (92 + RECORD * BLOCK) + 60);
  const cuts = [0, 32, 64, 4096, 65_628, 65_628 + 64 + 8192, 2 * 65_628, write.data.length - 1];
  for (const cut of cuts) {
    const got = await versionsAfter(crashState(base, ops, 1, { keepUnsynced: () => true, tornBytes: cut }));
    // the preallocated segment holds zeros: when the bytes cut off are all zeros too (the commit
    // record's last byte is a MAC byte, zero once in 256 runs), the cut write is the whole write
    const unchanged = write.data.subarray(cut).every((b) => b === 0);
    assert.deepEqual(got, new Array<number>(2 * RECORD).fill(unchanged ? 2 : 1), `write cut after ${cut} bytes`);
  }
  const whole = await versionsAfter(crashState(base, ops, 2, { keepUnsynced: () => false }));
  assert.deepEqual(whole, new Array<number>(2 * RECORD).fill(2));
});

test("a commit record on the stick over a data record that is not all there counts for nothing", async () => {
  const { base, ops } = await secondWrite();
  const write = ops[0];
  assert.ok(write?.kind === "write");
  const done = crashState(base, ops, 2, { keepUnsynced: () => false });
  const seg = done.get("/log/segment-00000000.bin");
  const old = base.get("/log/segment-00000000.bin");
  assert.ok(seg !== undefined && old !== undefined);
  // the disk wrote every sector of the flush but one in the middle of the second record's blocks
  const sector = write.position + 65_628 + 64 + 5 * BLOCK;
  old.copy(seg, sector, sector, sector + 512);
  assert.deepEqual(await versionsAfter(done), new Array<number>(2 * RECORD).fill(1));
  // the log goes on from the previous commit and keeps what it writes next
  const files = new MemFiles(done);
  const log = await openLogDevice({ dir: "/log", key: KEY, files });
  await log.write(3 * BLOCK, blockOf(3, 9), { fua: true });
  await log.close();
  const after = await versionsAfter(files.files);
  assert.deepEqual(after, Array.from({ length: 2 * RECORD }, (_, b) => (b === 3 ? 9 : 1)));
});
