import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { test } from "node:test";
import { CorruptStickError, IncompleteStickError, NoSpaceError } from "../../../src/errors/errors.js";
import { createLogDevice, openLogDevice } from "../../../src/layers/log/log.js";
import { WrongLogKeyError } from "../../../src/layers/log/log-errors.js";
import { tempDir } from "../../helpers/sticks.js";
import { BLOCK, KEY, blockOf, prng, versionOf } from "./helpers.js";
import { MemFiles } from "../../../scripts/crash/mem-files.js";

const SEGMENT = 64 * 1024;

test("compaction under churn: ten times the disk written, data intact, no file added or grown", async () => {
  const blocks = 64;
  const files = new MemFiles();
  let dev = await createLogDevice({ dir: "/log", key: KEY, size: blocks * BLOCK, segmentBytes: SEGMENT, files });
  const sizes = new Map([...files.files].map(([p, b]) => [p, b.length]));
  const ref = new Array<number>(blocks).fill(0);
  const rnd = prng(3);
  let version = 0;
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < blocks; i++) {
      const b = rnd(blocks);
      ref[b] = ++version;
      await dev.write(b * BLOCK, blockOf(b, version), { fua: false });
      if (rnd(16) === 0) await dev.flush();
    }
    const all = await dev.read(0, blocks * BLOCK);
    for (let b = 0; b < blocks; b++) assert.equal(versionOf(b, all.subarray(b * BLOCK, (b + 1) * BLOCK)), ref[b], `round ${round}, block ${b}`);
    if (round % 3 === 2) {
      await dev.close();
      dev = await openLogDevice({ dir: "/log", key: KEY, files });
    }
  }
  await dev.close();
  assert.deepEqual(new Map([...files.files].map(([p, b]) => [p, b.length])), sizes);
  const reopened = await openLogDevice({ dir: "/log", key: KEY, files });
  const all = await reopened.read(0, blocks * BLOCK);
  for (let b = 0; b < blocks; b++) assert.equal(versionOf(b, all.subarray(b * BLOCK, (b + 1) * BLOCK)), ref[b]);
  await reopened.close();
});

test("the checkpoint makes reopening read only the tail of a full log", async () => {
  const size = 4 * 1024 * 1024;
  const files = new MemFiles();
  const dev = await createLogDevice({ dir: "/log", key: KEY, size, segmentBytes: 256 * 1024, files });
  const data = Buffer.alloc(size, 0x5a);
  for (let off = 0; off < size; off += 64 * 1024) await dev.write(off, data.subarray(off, off + 64 * 1024), { fua: false });
  await dev.write(0, Buffer.alloc(8 * BLOCK, 1), { fua: false });
  await dev.flush();
  const logBytes = [...files.files].reduce((n, [p, b]) => n + (p.includes("segment-") ? b.length : 0), 0);

  // a crash: the device is dropped without close, so the tail since the last checkpoint is replayed
  const crashed = new MemFiles(files.snapshot());
  const afterCrash = await openLogDevice({ dir: "/log", key: KEY, files: crashed });
  assert.ok(crashed.bytesRead < logBytes / 4, `read ${crashed.bytesRead} of a ${logBytes}-byte log after a crash`);
  assert.ok((await afterCrash.read(0, BLOCK)).equals(Buffer.alloc(BLOCK, 1)));
  assert.ok((await afterCrash.read(size - BLOCK, BLOCK)).equals(Buffer.alloc(BLOCK, 0x5a)));

  // a clean close writes a checkpoint at the head: opening replays nothing
  await dev.close();
  const clean = new MemFiles(files.snapshot());
  const reopened = await openLogDevice({ dir: "/log", key: KEY, files: clean });
  assert.ok(clean.bytesRead < 512 * 1024, `read ${clean.bytesRead} bytes after a clean close`);
  assert.ok((await reopened.read(0, size)).subarray(8 * BLOCK).equals(data.subarray(8 * BLOCK)));
  await reopened.close();
});

test("a wrong key, damaged or missing superblock and missing segments give clear errors", async (t) => {
  const dir = `${await tempDir(t)}/user`;
  const dev = await createLogDevice({ dir, key: KEY, size: 16 * BLOCK, segmentBytes: SEGMENT });
  await dev.write(0, Buffer.alloc(BLOCK, 1), { fua: true });
  await dev.close();

  await assert.rejects(openLogDevice({ dir, key: Buffer.alloc(32, 8) }), (err: unknown) => err instanceof WrongLogKeyError && /does not open with this key/.test(err.message));
  await assert.rejects(openLogDevice({ dir, key: Buffer.alloc(16) }), { code: "USAGE" });

  const sbPath = `${dir}/superblock.bin`;
  const good = await readFile(sbPath);
  // one damaged copy: the other one is used
  const oneBad = Buffer.from(good);
  oneBad[100] = (oneBad[100] ?? 0) ^ 1;
  oneBad[4096 + 100] = oneBad[4096 + 100] ?? 0;
  await writeFile(sbPath, oneBad);
  const stillOpens = await openLogDevice({ dir, key: KEY });
  assert.ok((await stillOpens.read(0, BLOCK)).equals(Buffer.alloc(BLOCK, 1)));
  await stillOpens.close();
  // both damaged
  const bothBad = await readFile(sbPath);
  bothBad[100] = (bothBad[100] ?? 0) ^ 1;
  bothBad[4096 + 100] = (bothBad[4096 + 100] ?? 0) ^ 1;
  await writeFile(sbPath, bothBad);
  await assert.rejects(openLogDevice({ dir, key: KEY }), (err: unknown) => err instanceof CorruptStickError && /superblock .* is damaged \(copy 0: checksum mismatch; copy 1: checksum mismatch\)/.test(err.message));
  await writeFile(sbPath, good.subarray(0, 5000));
  await assert.rejects(openLogDevice({ dir, key: KEY }), (err: unknown) => err instanceof CorruptStickError && /is 5000 bytes, not 8192/.test(err.message));
  await writeFile(sbPath, good);
  await writeFile(`${dir}/segment-00000001.bin`, Buffer.alloc(10));
  await assert.rejects(openLogDevice({ dir, key: KEY }), (err: unknown) => err instanceof CorruptStickError && /segment-00000001\.bin is 10 bytes/.test(err.message));
  await assert.rejects(openLogDevice({ dir: `${dir}-none`, key: KEY }), (err: unknown) => err instanceof IncompleteStickError && /superblock\.bin is missing/.test(err.message));
  await assert.rejects(createLogDevice({ dir, key: KEY, size: 16 * BLOCK }), { code: "USAGE", message: /already holds a log/ });
});

test("no plaintext written by the guest reaches any file of the log folder", async (t) => {
  const dir = `${await tempDir(t)}/user`;
  const marker = Buffer.from("STICKVM-PLAINTEXT-MARKER-5c1e0b7a");
  const dev = await createLogDevice({ dir, key: KEY, size: 64 * BLOCK, segmentBytes: SEGMENT });
  const page = Buffer.alloc(BLOCK);
  for (let i = 0; i + marker.length <= BLOCK; i += 64) marker.copy(page, i);
  for (let b = 0; b < 64; b++) await dev.write(b * BLOCK + (b % 3) * 100, page.subarray(0, BLOCK - 300), { fua: b % 8 === 0 });
  await dev.flush();
  await dev.close();
  const names = await readdir(dir);
  assert.ok(names.length > 5);
  for (const name of names) {
    const bytes = await readFile(`${dir}/${name}`);
    assert.equal(bytes.indexOf(marker.subarray(0, 16)), -1, `${name} holds the marker`);
  }
});

test("a full log refuses writes with NoSpace, stays consistent, and works again after a trim", async () => {
  const blocks = 64;
  const files = new MemFiles();
  // three segments of 14 blocks each: far less than the disk
  let dev = await createLogDevice({ dir: "/log", key: KEY, size: blocks * BLOCK, segmentBytes: SEGMENT, segmentCount: 4, files });
  const ref = new Array<number>(blocks).fill(0);
  let full = -1;
  for (let b = 0; b < blocks; b++) {
    try {
      await dev.write(b * BLOCK, blockOf(b, b + 1), { fua: false });
      ref[b] = b + 1;
    } catch (err) {
      assert.ok(err instanceof NoSpaceError, String(err));
      assert.match(err.message, /is full/);
      full = b;
      break;
    }
  }
  assert.ok(full > 0, "the log filled up");
  await dev.flush();
  const check = async (): Promise<void> => {
    const all = await dev.read(0, blocks * BLOCK);
    for (let b = 0; b < blocks; b++) assert.equal(versionOf(b, all.subarray(b * BLOCK, (b + 1) * BLOCK)), ref[b], `block ${b}`);
  };
  await check();
  await assert.rejects(dev.write(full * BLOCK, blockOf(full, 99), { fua: false }), NoSpaceError);
  // free half of what was written
  await dev.trim(0, Math.floor(full / 2) * BLOCK);
  for (let b = 0; b < Math.floor(full / 2); b++) ref[b] = 0;
  await dev.write(full * BLOCK, blockOf(full, 99), { fua: true });
  ref[full] = 99;
  await check();
  await dev.close();
  dev = await openLogDevice({ dir: "/log", key: KEY, files });
  await check();
  await dev.close();
});

test("a damaged block fails its read with CHUNK_INVALID; the rest of the disk still reads", async () => {
  const files = new MemFiles();
  const dev = await createLogDevice({ dir: "/log", key: KEY, size: 8 * BLOCK, segmentBytes: SEGMENT, files });
  // two records: the blocks of one record are sealed together and would fail together
  await dev.write(0, blockOf(0, 1), { fua: false });
  await dev.write(BLOCK, blockOf(1, 1), { fua: true });
  await dev.close();
  // first record at 4096: head (32), sealed descriptor (32), then block 0's sealed bytes
  const seg = files.files.get("/log/segment-00000000.bin");
  assert.ok(seg !== undefined);
  seg[4096 + 64 + 100] = (seg[4096 + 64 + 100] ?? 0) ^ 1;
  const log = await openLogDevice({ dir: "/log", key: KEY, files });
  await assert.rejects(log.read(0, BLOCK), { code: "CHUNK_INVALID", message: /segment-00000000\.bin offset 4160 is damaged/ });
  assert.equal(versionOf(1, await log.read(BLOCK, BLOCK)), 1);
  await log.write(0, blockOf(0, 2), { fua: true });
  assert.equal(versionOf(0, await log.read(0, BLOCK)), 2);
  await log.close();
});
