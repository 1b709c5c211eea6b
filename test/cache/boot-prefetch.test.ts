import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { BootPrefetch, type PrefetchRead } from "../../src/cache/boot-prefetch.js";
import { CacheWarm } from "../../src/cache/cache-warm.js";
import { writeEntry } from "../../src/cache/entry-files.js";
import { planPrefetch } from "../../src/cache/prefetch-plan.js";
import type { BootProfileOptions } from "../../src/cache/boot-profile-session.js";
import { openStick, type OpenStick } from "../../src/chunkstore/open-stick.js";
import { BOOT_PROFILE_FILES } from "../../stick-layout/format.js";
import { adminKey, fastBuild, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";
import { baseIds, CHUNK } from "./cache-helpers.js";

const CHUNKS = 48;
/** The order a "boot" reads: scattered over the disk, 32 of the 48 chunks. */
const BOOT_ORDER = [40, 3, 27, 11, 46, 0, 19, 33, 7, 24, 44, 15, 30, 2, 38, 21, 9, 36, 13, 47, 5, 28, 17, 42, 1, 34, 23, 10, 45, 31, 6, 26];

type T = Parameters<typeof tempDir>[0];

/** A stick of random chunks over several packs of 1 MiB; `trusted`: its policy keeps the host cache between sessions. */
async function multiPackStick(t: T, trusted = false): Promise<{ stick: string; bytes: Buffer; dir: string }> {
  const dir = await tempDir(t);
  const { path, bytes } = await writeImage(dir, [{ random: CHUNKS * CHUNK }]);
  const stick = join(dir, "stick");
  const policy = join(dir, "policy.json");
  await writeFile(policy, JSON.stringify(trusted ? { host: "trusted" } : {}));
  await fastBuild({ image: path, out: stick, signingKey: await adminKey(dir), packLimit: 1024 * 1024, policy });
  return { stick, bytes, dir };
}

function open(stick: string, cacheRoot: string, bootProfile: BootProfileOptions, warnings: string[] = []): Promise<OpenStick> {
  const warn = (m: string): void => { warnings.push(m); };
  return openStick(stick, { passphrase: PASSPHRASE }, { hostCache: { dir: cacheRoot, defaultDir: join(cacheRoot, "unused"), warn }, bootProfile, warn });
}

async function boot(s: OpenStick, bytes: Buffer, order: number[]): Promise<void> {
  for (const i of order) {
    const got = await s.base.read(i * CHUNK, CHUNK);
    assert.ok(got.equals(bytes.subarray(i * CHUNK, (i + 1) * CHUNK)), `chunk ${i} reads back right`);
  }
}

/** Records BOOT_ORDER as the stick's profile, the way `make-stick profile` does (until close, saved at close). */
async function recordProfile(stick: string, bytes: Buffer, cacheRoot: string): Promise<void> {
  const s = await open(stick, cacheRoot, { recordMs: null, saveAtClose: true, prefetch: false });
  await boot(s, bytes, BOOT_ORDER);
  await s.close();
  const p = s.stats().profile;
  assert.equal(p?.recorded, BOOT_ORDER.length);
  assert.equal(p.saved, true);
}

test("a recorded profile is prefetched at the next start in one front-to-back sweep of the stick, and the boot then reads only the cache", async (t) => {
  const { stick, bytes, dir } = await multiPackStick(t);
  await recordProfile(stick, bytes, join(dir, "cache-a"));

  const reads: PrefetchRead[] = [];
  const s = await open(stick, join(dir, "cache-b"), { onPrefetchRead: (r) => reads.push(r) });
  const prefetch = await s.profile?.prefetchDone();
  assert.equal(prefetch?.stored, BOOT_ORDER.length);
  assert.equal(prefetch.complete, true);
  assert.ok(new Set(reads.map((r) => r.pack)).size > 1, "the profile spans several packs");
  for (let i = 1; i < reads.length; i++) {
    const a = reads[i - 1];
    const b = reads[i];
    assert.ok(a && b && (b.pack > a.pack || (b.pack === a.pack && b.offset >= a.offset + a.length)), `read ${i} (${JSON.stringify(b)}) comes after read ${i - 1} (${JSON.stringify(a)}) on the stick`);
  }
  // neighbours on the stick come in one read (these chunks do not compress: a skipped one is a gap too long to read through)
  assert.ok(reads.length < BOOT_ORDER.length, `${reads.length} reads for ${BOOT_ORDER.length} chunks`);
  const before = s.stickReads();
  await boot(s, bytes, BOOT_ORDER);
  assert.deepEqual(s.stickReads(), before, "the boot read nothing from the stick");
  await s.close();
  const stats = s.stats();
  assert.equal(stats.cache?.hits, BOOT_ORDER.length);
  assert.equal(stats.cache.misses, 0);
  assert.equal(stats.cache.prefetched, BOOT_ORDER.length);
  assert.equal(stats.profile?.found, BOOT_ORDER.length);
  // it ended inside its window with a profile on the stick: the stick's profile stays as it was
  assert.equal(stats.profile.saved, false);
});

test("the prefetch waits while the guest reads the stick, and skips what the cache already holds", async (t) => {
  const { stick, bytes, dir } = await multiPackStick(t);
  await recordProfile(stick, bytes, join(dir, "cache-a"));
  // a session without prefetch, to borrow its stick and cache
  const s = await open(stick, join(dir, "cache-b"), { prefetch: false });
  const cache = s.cache;
  assert.ok(cache);
  await boot(s, bytes, BOOT_ORDER.slice(0, 8));
  const ids = Buffer.concat(BOOT_ORDER.map((i) => baseIds(s)[i] ?? Buffer.alloc(0)));
  const spans = planPrefetch({ ids, locate: (id) => s.store.locate(id), held: (id) => cache.holds(id), budgetBytes: cache.prefetchBudget });
  assert.equal(spans.flatMap((x) => x.chunks).length, BOOT_ORDER.length - 8, "the 8 chunks read are not fetched again");

  const urgent = new Int32Array(new SharedArrayBuffer(4));
  Atomics.store(urgent, 0, 1); // a guest read of the stick in flight
  const reads: PrefetchRead[] = [];
  const prefetch = new BootPrefetch({ stickDir: stick, chunkSize: CHUNK, baseKey: s.secrets.baseKey, cache, urgentStickReads: urgent, spans, warn: () => undefined, onRead: (r) => reads.push(r) });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(reads.length, 0, "nothing read while the guest reads");
  Atomics.store(urgent, 0, 0);
  Atomics.notify(urgent, 0);
  const done = await prefetch.done;
  assert.equal(done.stored, BOOT_ORDER.length - 8);
  assert.equal(done.complete, true);
  await prefetch.stop();
  await s.close();
});

test("a profile slot torn by a crash is passed over with a warning; with none left the session has no prefetch and saves its own", async (t) => {
  const { stick, bytes, dir } = await multiPackStick(t);
  await recordProfile(stick, bytes, join(dir, "cache-a")); // sequence 1: slot 1
  const [slot0, slot1] = BOOT_PROFILE_FILES;
  const saved = await readFile(join(stick, slot1));
  await writeFile(join(stick, slot1), saved.subarray(0, saved.length - 100));
  const warnings: string[] = [];
  const s = await open(stick, join(dir, "cache-b"), {}, warnings);
  assert.equal(await s.profile?.prefetchDone(), undefined, "no prefetch");
  assert.match(warnings.join("\n"), /boot profile slot 1 is \d+ bytes, its head says \d+ \(a write was cut short\); this start has none/);
  await boot(s, bytes, [5, 6, 7]);
  await s.close();
  assert.equal(s.stats().profile?.saved, true, "a stick without a usable profile gets this session's");
  // it went to slot 1 again (sequence 1), the one that was torn
  await rm(join(stick, slot0), { force: true });
  const again = await open(stick, join(dir, "cache-c"), { prefetch: false });
  await again.close();
  assert.equal(again.stats().profile?.found, 3);
});

test("a profile that cannot be written on the stick is a warning, not a failed session", async (t) => {
  const { stick, bytes, dir } = await multiPackStick(t);
  // the slot a first profile goes to (sequence 1) is a folder: the write fails as on a write-protected stick
  await mkdir(join(stick, BOOT_PROFILE_FILES[1]));
  const warnings: string[] = [];
  const s = await open(stick, join(dir, "cache"), {}, warnings);
  await boot(s, bytes, [1, 2]);
  await s.close();
  assert.equal(s.stats().profile?.saved, false);
  assert.match(warnings.join("\n"), /the boot profile could not be saved on the stick \(.*boot-profile-1\.bin.*\); the next start has none/);
});

test("a warm start reads the entries of the profile's chunks the cache holds ahead of the guest; the prefetch fetches the rest", async (t) => {
  const { stick, bytes, dir } = await multiPackStick(t, true);
  const cacheRoot = join(dir, "cache");
  await recordProfile(stick, bytes, cacheRoot); // it read BOOT_ORDER through this cache: every chunk is held

  // the entry of the profile's 5th chunk is gone before the next start
  const borrow = await open(stick, cacheRoot, { prefetch: false });
  const gone = baseIds(borrow)[BOOT_ORDER[4] ?? -1];
  assert.ok(gone && borrow.cache);
  const hex = gone.toString("hex");
  await borrow.close();
  await rm(join(borrow.cache.dir, "chunks", hex.slice(0, 2), hex));

  const s = await open(stick, cacheRoot, {});
  assert.equal((await s.profile?.prefetchDone())?.stored, 1, "the one missing chunk comes from the stick");
  const warm = await s.profile?.warmDone();
  assert.equal(warm?.files, BOOT_ORDER.length - 1);
  // entries are the sealed chunks: random data does not compress, so each is a chunk and a little more
  assert.ok(warm.bytes > (BOOT_ORDER.length - 1) * CHUNK && warm.bytes < BOOT_ORDER.length * (CHUNK + 1024), `${warm.bytes} bytes read ahead`);
  await boot(s, bytes, BOOT_ORDER);
  await s.close();
  const stats = s.stats();
  assert.equal(stats.profile?.warmed, BOOT_ORDER.length - 1);
  assert.equal(stats.cache?.hits, BOOT_ORDER.length);
  assert.equal(stats.cache.misses, 0);
});

test("the read-ahead passes over an entry that is gone, reads the others in full, and stops when asked", async (t) => {
  const dir = await tempDir(t);
  const ids = [1, 2, 3, 4].map((n) => Buffer.alloc(32, n));
  const sizes = [1000, 70_000, 300_000]; // the last longer than the thread's read buffer
  ids.slice(0, 3).forEach((id, i) => { writeEntry(dir, id, randomBytes(sizes[i] ?? 0)); });
  // the missing one is second: what comes after it is read too
  const warm = new CacheWarm(dir, Buffer.concat([ids[0], ids[3], ids[1], ids[2]].map((x) => x ?? Buffer.alloc(0))));
  assert.deepEqual(await warm.done, { files: 3, bytes: 371_000 });
  assert.deepEqual(await warm.stop(), { files: 3, bytes: 371_000 });
  // stopped before it starts: it reads at most the entry it was on
  const stopped = new CacheWarm(dir, Buffer.concat(Array.from({ length: 2000 }, () => ids[2] ?? Buffer.alloc(0))));
  const r = await stopped.stop();
  assert.ok(r !== undefined && r.files < 2000, `${String(r?.files)} of 2000 read`);
});

test("a start with an empty cache reads nothing ahead: the prefetch brings the chunks in", async (t) => {
  const { stick, bytes, dir } = await multiPackStick(t);
  await recordProfile(stick, bytes, join(dir, "cache-a"));
  const s = await open(stick, join(dir, "cache-b"), {});
  assert.equal(await s.profile?.warmDone(), undefined);
  assert.equal((await s.profile?.prefetchDone())?.stored, BOOT_ORDER.length);
  await s.close();
  assert.equal(s.stats().profile?.warmed, undefined);
});
