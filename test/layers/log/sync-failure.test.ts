// A flush syncs outside the device's write lock, so two flushes' syncs of one segment can run at
// once. Linux reports a write-back error to one fdatasync only: whichever sync gets it, neither
// flush may be acknowledged, and the device must refuse what follows.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { LogFile } from "../../../src/layers/log/files.js";
import { createLogDevice } from "../../../src/layers/log/log.js";
import { BLOCK, KEY, blockOf } from "./helpers.js";
import { MemFiles } from "./mem-files.js";

/** MemFiles whose syncs, once `hold` is set, wait until the test settles them. */
class HeldSyncs extends MemFiles {
  hold = false;
  readonly held: { resolve: () => void; reject: (err: Error) => void }[] = [];

  override async open(path: string): Promise<LogFile> {
    const file = await super.open(path);
    return {
      read: (buffer, position) => file.read(buffer, position),
      write: (data, position) => file.write(data, position),
      sync: () => (this.hold ? new Promise<void>((resolve, reject) => this.held.push({ resolve, reject })) : file.sync()),
      close: () => file.close(),
    };
  }
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((resolve) => setImmediate(resolve));
}

test("a write-back error taken by a later flush's sync fails the earlier flush too", async () => {
  const files = new HeldSyncs();
  const dev = await createLogDevice({ dir: "/log", key: KEY, size: 8 * BLOCK, segmentBytes: 64 * 1024, files });
  files.hold = true;
  await dev.write(0, blockOf(0, 1), { fua: false });
  const first = dev.flush();
  await until(() => files.held.length === 1);
  await dev.write(BLOCK, blockOf(1, 1), { fua: false });
  const second = dev.flush();
  await until(() => files.held.length === 2);
  // the first sync returns success; the kernel hands the error (about data of either flush) to the second one
  files.held[0]?.resolve();
  await new Promise((resolve) => setImmediate(resolve));
  files.held[1]?.reject(new Error("EIO: write-back failed"));
  await assert.rejects(second, /EIO/);
  await assert.rejects(first, /EIO/);
  await assert.rejects(dev.write(2 * BLOCK, blockOf(2, 1), { fua: false }), /EIO/);
});
