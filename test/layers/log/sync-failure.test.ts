// A commit syncs outside the device's write lock, so a flush's sync and a FUA write's sync of one
// segment can run at once. Linux reports a write-back error to one fdatasync only: whichever sync
// gets it, neither may be acknowledged, and the device must refuse what follows. Flushes among
// themselves take turns (group commit): one waits for the sync before it, then syncs for all.
// Long runs of appends are synced ahead in the background, which changes what reaches the stick
// early but not what a crash leaves readable.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { StoreFile } from "../../../src/util/store-files.js";
import { createLogDevice, openLogDevice } from "../../../src/layers/log/log.js";
import { BLOCK, KEY, blockOf } from "./helpers.js";
import { MemFiles, crashState } from "../../../scripts/crash/mem-files.js";

/** MemFiles whose syncs, once `hold` is set, wait until the test settles them. */
class HeldSyncs extends MemFiles {
  hold = false;
  readonly held: { resolve: () => void; reject: (err: Error) => void }[] = [];

  override async open(path: string): Promise<StoreFile> {
    const file = await super.open(path);
    return {
      read: (buffer, position) => file.read(buffer, position),
      write: (data, position) => file.write(data, position),
      // a held sync counts (for crash states) once the test lets it succeed
      sync: () => (this.hold ? new Promise<void>((resolve, reject) => this.held.push({ resolve, reject })).then(() => file.sync()) : file.sync()),
      close: () => file.close(),
    };
  }
}

async function until(cond: () => boolean): Promise<void> {
  for (let turns = 0; !cond(); turns++) {
    if (turns > 10_000) throw new Error("the condition never came true");
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A few turns of the event loop, for what should not happen to get its chance. */
async function turns(n = 50): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

test("a write-back error taken by a FUA write's sync fails the flush whose sync ran beside it", async () => {
  const files = new HeldSyncs();
  const dev = await createLogDevice({ dir: "/log", key: KEY, size: 8 * BLOCK, segmentBytes: 64 * 1024, files });
  files.hold = true;
  await dev.write(0, blockOf(0, 1), { fua: false });
  const first = dev.flush();
  await until(() => files.held.length === 1);
  const second = dev.write(BLOCK, blockOf(1, 1), { fua: true });
  await until(() => files.held.length === 2);
  // the first sync returns success; the kernel hands the error (about data of either flush) to the second one
  files.held[0]?.resolve();
  await new Promise((resolve) => setImmediate(resolve));
  files.held[1]?.reject(new Error("EIO: write-back failed"));
  await assert.rejects(second, /EIO/);
  await assert.rejects(first, /EIO/);
  await assert.rejects(dev.write(2 * BLOCK, blockOf(2, 1), { fua: false }), /EIO/);
});

test("flushes that arrive during a sync share the next one, which makes every write before them durable", async () => {
  const files = new HeldSyncs();
  const dev = await createLogDevice({ dir: "/log", key: KEY, size: 8 * BLOCK, segmentBytes: 64 * 1024, files });
  const base = files.snapshot();
  files.recording = true;
  files.hold = true;
  let resolved = 0;
  await dev.write(0, blockOf(0, 1), { fua: false });
  const first = dev.flush().then(() => resolved++);
  await until(() => files.held.length === 1);
  const later: Promise<number>[] = [];
  for (const block of [1, 2, 3]) {
    await dev.write(block * BLOCK, blockOf(block, 1), { fua: false });
    later.push(dev.flush().then(() => resolved++));
  }
  await turns();
  assert.equal(files.held.length, 1, "no second sync while the first runs");
  assert.equal(resolved, 0);
  files.held[0]?.resolve();
  await first;
  await until(() => files.held.length === 2);
  await turns();
  assert.equal(files.held.length, 2, "one sync for the three flushes that waited");
  assert.equal(resolved, 1);
  files.held[1]?.resolve();
  await Promise.all(later);
  // a crash now keeps only what was synced: all four blocks
  const crashed = new MemFiles(crashState(base, files.ops, files.ops.length, { keepUnsynced: () => false }));
  const reopened = await openLogDevice({ dir: "/log", key: KEY, files: crashed });
  for (const block of [0, 1, 2, 3]) assert.ok((await reopened.read(block * BLOCK, BLOCK)).equals(blockOf(block, 1)), `block ${block}`);
});

test("appends are synced ahead in the background: that makes nothing readable before its commit", async () => {
  const files = new MemFiles();
  const dev = await createLogDevice({ dir: "/log", key: KEY, size: 1024 * BLOCK, segmentBytes: 4 * 1024 * 1024, files });
  const base = files.snapshot();
  files.recording = true;
  for (let block = 0; block < 256; block += 16) {
    await dev.write(block * BLOCK, Buffer.concat(Array.from({ length: 16 }, (_, i) => blockOf(block + i, 1))), { fua: false });
  }
  await until(() => files.ops.some((op) => op.kind === "sync"));
  assert.ok(files.ops.some((op) => op.kind === "sync" && op.path.includes("segment-")), "a segment was synced before any flush");
  const crashed = new MemFiles(crashState(base, files.ops, files.ops.length, { keepUnsynced: () => true }));
  const reopened = await openLogDevice({ dir: "/log", key: KEY, files: crashed });
  assert.ok((await reopened.read(0, 256 * BLOCK)).every((b) => b === 0), "no commit, no data");
  await dev.flush();
  const flushed = new MemFiles(crashState(base, files.ops, files.ops.length, { keepUnsynced: () => false }));
  const afterFlush = await openLogDevice({ dir: "/log", key: KEY, files: flushed });
  assert.ok((await afterFlush.read(17 * BLOCK, BLOCK)).equals(blockOf(17, 1)), "after the flush, everything");
});

test("a background sync that fails fails the next flush and every later write", async () => {
  const files = new HeldSyncs();
  const dev = await createLogDevice({ dir: "/log", key: KEY, size: 1024 * BLOCK, segmentBytes: 4 * 1024 * 1024, files });
  files.hold = true;
  for (let block = 0; block < 256; block += 16) {
    await dev.write(block * BLOCK, Buffer.concat(Array.from({ length: 16 }, (_, i) => blockOf(block + i, 1))), { fua: false });
  }
  await until(() => files.held.length === 1);
  files.held[0]?.reject(new Error("EIO: write-back failed"));
  await turns();
  files.hold = false;
  await assert.rejects(dev.flush(), /EIO/);
  await assert.rejects(dev.write(0, blockOf(0, 2), { fua: false }), /EIO/);
});
