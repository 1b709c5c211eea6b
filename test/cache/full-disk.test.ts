import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { CHUNK, cacheStick, openCached, range, readInOrder } from "./cache-helpers.js";

// A small tmpfs is a host disk that fills up; mounting one takes root.
const canMount = process.getuid?.() === 0 && spawnSync("sh", ["-c", "command -v mount"]).status === 0;

async function smallDisk(t: TestContext, bytes: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "stickvm-disk-"));
  t.after(async () => {
    spawnSync("umount", [dir]);
    await rm(dir, { recursive: true, force: true });
  });
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", dir], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return dir;
}

/** Writes zeros until the file system says no more. */
async function fill(dir: string): Promise<void> {
  const fh = await open(join(dir, "filler"), "w");
  try {
    for (;;) await fh.write(Buffer.alloc(64 * 1024));
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, "ENOSPC");
  } finally {
    await fh.close();
  }
}

test("a host disk that fills during the session turns the cache off with a warning; reads go on from the stick", { skip: canMount ? false : "needs root to mount a tmpfs" }, async (t) => {
  const disk = await smallDisk(t, 4 * 1024 * 1024);
  const { stick, bytes } = await cacheStick(t, 16, { host: "trusted", cacheShareOfFreeDisk: 1 });
  const warnings: string[] = [];
  const s = await openCached(stick, disk, warnings);
  t.after(() => s.close());
  assert.ok(s.cache?.isOn);
  await readInOrder(s, bytes, range(2));
  await fill(disk);
  await readInOrder(s, bytes, range(16));
  await readInOrder(s, bytes, range(16));
  const st = s.cache.snapshot();
  assert.match(st.off ?? "", /the host disk that holds .* is full/);
  assert.match(warnings.join("\n"), /the host cache is off for the rest of this session: the host disk .* is full; chunks come from the stick/);
  // the two stored before the disk filled were hits until the cache went off
  assert.equal(st.hits, 2);
  assert.equal(st.misses, 32);
});

test("a host disk already full at the start: the cache is off with a warning, and the session reads from the stick", { skip: canMount ? false : "needs root to mount a tmpfs" }, async (t) => {
  const disk = await smallDisk(t, 1024 * 1024);
  await fill(disk);
  const { stick, bytes } = await cacheStick(t, 4, { host: "trusted" });
  const warnings: string[] = [];
  const s = await openCached(stick, disk, warnings);
  t.after(() => s.close());
  assert.equal(s.cache?.isOn, false);
  assert.match(warnings.join("\n"), /the host cache is off for this session: (there is no room for it on the host disk|its folder .* cannot be made)/);
  assert.ok((await s.base.read(0, 4 * CHUNK)).equals(bytes));
  assert.equal(s.cache.snapshot().misses, 4);
});
