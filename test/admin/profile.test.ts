// make-stick profile for real: the test guest boots from the stick under QEMU and reads its
// system disk in a scattered order; the profile recorded until its marker line is saved on the
// stick, and the next session, with an empty host cache, prefetches it and reads it from the cache.
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { join } from "node:path";
import { test } from "node:test";
import { recordBootProfile } from "../../src/admin/profile.js";
import type { SessionStats } from "../../src/cache/session-stats.js";
import { runStick } from "../../src/run/run-stick.js";
import { buildTestGuest, guestCacheDir, missingCommands } from "../helpers/guest.js";
import { adminKey, fastBuild, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

const MiB = 1024 * 1024;
const skip = missingCommands(["qemu-system-x86_64"]).length > 0 ? "needs qemu-system-x86_64 (Debian: qemu-system-x86)" : false;
const MARKER = "scattered reads done";
/** 64 KiB blocks of the system disk the "boot" reads, out of order. */
const BLOCKS = [50, 3, 33, 17, 60, 8, 41, 25];

test("make-stick profile records a boot until its marker line; the next start prefetches it and the boot reads the cache", { skip, timeout: 5 * 60_000 }, async (t) => {
  const guest = await buildTestGuest(guestCacheDir());
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: 4 * MiB }]);
  const stick = join(dir, "stick");
  const reads = BLOCKS.map((b) => `dd if=/dev/vda bs=65536 skip=${b} count=1 of=/dev/null 2>/dev/null`).join("; ");
  const script = `${reads}; echo '${MARKER}'`;
  await fastBuild({
    image, out: stick, signingKey: await adminKey(dir), packLimit: 2 * MiB,
    boot: { kernel: guest.kernel, initrd: guest.initrd, append: `console=ttyS0 loglevel=1 panic=-1 stickvm.disks=stickvm-system stickvm.run=${Buffer.from(script).toString("base64")}` },
  });
  const warnings: string[] = [];
  let seen = "";
  const recorded = await recordBootProfile({
    stick,
    unlock: { passphrase: PASSPHRASE },
    untilLine: MARKER,
    seconds: 240,
    powerdownTimeoutMs: 10_000,
    cacheDir: join(dir, "cache-admin"),
    guestOutput: new PassThrough().on("data", (d: Buffer) => (seen += d.toString("utf8"))),
    stopRequests: () => () => undefined,
    onStatus: () => undefined,
    onWarning: (m) => warnings.push(m),
  });
  assert.ok(seen.includes(MARKER), seen.slice(-2000));
  assert.ok(["line", "guest"].includes(recorded.endedBy), recorded.endedBy);
  // the kernel, the initrd and the blocks read (the guest's own read-ahead brings neighbours)
  assert.ok(recorded.chunks >= BLOCKS.length, `${recorded.chunks} chunks recorded`);
  assert.equal(warnings.length, 0, warnings.join("\n"));

  let stats: SessionStats | undefined;
  const outcome = await runStick({
    stick,
    unlock: { passphrase: PASSPHRASE },
    headless: true,
    powerdownTimeoutMs: 10_000,
    terminal: { input: new PassThrough(), output: new PassThrough().resume() },
    stopRequests: () => () => undefined,
    onStatus: () => undefined,
    onWarning: (m) => warnings.push(m),
    cacheDir: join(dir, "cache-user"),
    onStats: (s) => (stats = s),
  });
  assert.deepEqual(outcome, { stoppedBy: "guest" });
  assert.equal(warnings.length, 0, warnings.join("\n"));
  assert.equal(stats?.profile?.found, recorded.chunks);
  assert.equal(stats.profile.prefetch?.complete, true);
  assert.ok(stats.cache && stats.cache.prefetched > 0);
  // the prefetch came first for what it fetched: every chunk it stored was either read from the cache or
  // raced by a guest read that went ahead of it; the guest's reads of the stick are far fewer than without it
  assert.ok(stats.cache.hits >= BLOCKS.length, `${stats.cache.hits} hits, ${stats.cache.misses} misses`);
});

test("make-stick profile refuses a time limit that is not a positive number", async () => {
  await assert.rejects(
    recordBootProfile({ stick: "/nonexistent", unlock: { passphrase: "x" }, seconds: 0, powerdownTimeoutMs: 1000, stopRequests: () => () => undefined, onStatus: () => undefined, onWarning: () => undefined }),
    /--seconds 0 is not a positive number of seconds/,
  );
});
