import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogDevice, openLogDevice } from "../../../src/layers/log/log.js";
import { BLOCK, KEY, blockOf, prng, versionOf } from "./helpers.js";
import { MemFiles, crashState, type CrashChoice } from "../../../scripts/crash/mem-files.js";

// Crash states: record every write and sync of a workload that crosses segments, checkpoints
// and compaction, then rebuild the files as a crash after each prefix of those operations
// could leave them (unsynced writes dropped, kept, or the last one torn) and open the log.
// Everything acknowledged by a flush (or a FUA write) must be there; a later write may or may
// not be; nothing else may appear.

const BLOCKS = 24;
const SEGMENT = 64 * 1024; // 14 one-block records a segment: the workload fills the log several times

interface Durable {
  /** Operations recorded when the flush resolved. */
  opsAt: number;
  versions: number[];
}

test("every crash state opens and holds everything flushed before it", async () => {
  const files = new MemFiles();
  let dev = await createLogDevice({ dir: "/log", key: KEY, size: BLOCKS * BLOCK, segmentBytes: SEGMENT, files });
  const base = files.snapshot();
  files.recording = true;

  const rnd = prng(7);
  const current = new Array<number>(BLOCKS).fill(0);
  const durable: Durable[] = [{ opsAt: 0, versions: [...current] }];
  /** For each block, the versions written after each durable point, by index of that point. */
  const writtenSince: Set<number>[][] = [current.map(() => new Set<number>())];
  let version = 0;
  const note = (block: number, v: number): void => {
    current[block] = v;
    for (const sets of writtenSince) sets[block]?.add(v);
  };
  const acknowledge = (): void => {
    durable.push({ opsAt: files.ops.length, versions: [...current] });
    writtenSince.push(current.map(() => new Set<number>()));
  };

  for (let step = 0; step < 200; step++) {
    const r = rnd(100);
    // half the writes go to four hot blocks, so whole segments die while still in the chain
    const first = rnd(2) === 0 ? rnd(4) : rnd(BLOCKS);
    const count = Math.min(BLOCKS - first, 1 + rnd(3));
    if (r < 75) {
      const parts: Buffer[] = [];
      for (let k = 0; k < count; k++) {
        version++;
        parts.push(blockOf(first + k, version));
        note(first + k, version);
      }
      const fua = rnd(8) === 0;
      await dev.write(first * BLOCK, Buffer.concat(parts), { fua });
      if (fua) acknowledge(); // this log's FUA commits every earlier write too
    } else if (r < 85) {
      await dev.trim(first * BLOCK, count * BLOCK);
      for (let k = 0; k < count; k++) note(first + k, 0);
    } else if (r < 97) {
      await dev.flush();
      acknowledge();
    } else {
      await dev.close();
      acknowledge();
      dev = await openLogDevice({ dir: "/log", key: KEY, files });
    }
  }
  await dev.close();
  files.recording = false;
  const ops = files.ops;
  assert.ok(ops.length > 150, `the workload recorded ${ops.length} operations`);
  // the workload must wrap the log (so segments were reused after compaction) and write both checkpoint slots
  const segmentBytesWritten = ops.reduce((n, op) => n + (op.kind === "write" && op.path.includes("segment-") ? op.data.length : 0), 0);
  const logBytes = [...base.keys()].filter((p) => p.includes("segment-")).length * SEGMENT;
  assert.ok(segmentBytesWritten > 1.5 * logBytes, `${segmentBytesWritten} bytes written to a ${logBytes}-byte log`);
  for (const slot of [0, 1]) assert.ok(ops.some((op) => op.kind === "write" && op.path === `/log/checkpoint-${slot}.bin`));

  let states = 0;
  const rndCrash = prng(11);
  for (let prefix = 0; prefix <= ops.length; prefix++) {
    const choices: CrashChoice[] = [
      { keepUnsynced: () => false },
      { keepUnsynced: () => true },
      { keepUnsynced: () => rndCrash(2) === 0, tornBytes: 512 * rndCrash(9) },
    ];
    for (const choice of choices) {
      states++;
      let point = 0;
      while ((durable[point + 1]?.opsAt ?? Infinity) <= prefix) point++;
      const acked = durable[point];
      const later = writtenSince[point];
      assert.ok(acked !== undefined && later !== undefined);
      const crashed = new MemFiles(crashState(base, ops, prefix, choice));
      const log = await openLogDevice({ dir: "/log", key: KEY, files: crashed });
      const all = await log.read(0, BLOCKS * BLOCK);
      for (let b = 0; b < BLOCKS; b++) {
        const got = versionOf(b, all.subarray(b * BLOCK, (b + 1) * BLOCK));
        const want = acked.versions[b] ?? 0;
        const ok = got === want || (got !== undefined && later[b]?.has(got) === true);
        assert.ok(ok, `crash after ${prefix} of ${ops.length} ops: block ${b} holds version ${got}, flushed ${want}`);
      }
      await log.close();
      if (states % 7 !== 0) continue;
      // the crashed log keeps working
      const reopened = await openLogDevice({ dir: "/log", key: KEY, files: crashed });
      await reopened.write(0, blockOf(0, 1e6), { fua: true });
      await reopened.close();
      const again = await openLogDevice({ dir: "/log", key: KEY, files: crashed });
      assert.equal(versionOf(0, await again.read(0, BLOCK)), 1e6);
      await again.close();
    }
  }
  assert.ok(states >= 300, `${states} crash states`);
  console.log(`${states} crash states over ${ops.length} operations`);
});
