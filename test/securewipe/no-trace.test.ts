// Issue 6 end to end: `stickvm run` as a real process with the test guest, its HOME, TMPDIR and
// XDG folders in a sandbox. A whole session leaves nothing (kiosk) or only ciphertext in the cache
// (trusted); the guest's marker never reaches a file in plaintext; a launcher killed with -9 takes
// its player with it, and `stickvm wipe` or the next start finishes the wipe; a pulled stick stops
// the player within 2 seconds, the residue is wiped, and the user disk opens clean afterwards.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { lstat, mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { EXIT } from "../../src/cli/exit-codes.js";
import { buildTestGuest, guestCacheDir, guestDiskPath, missingCommands, SERIALS } from "../helpers/guest.js";
import { startRun } from "../helpers/run.js";
import { runClient, serve, STICKVM } from "../helpers/serve.js";
import { adminKey, fastBuild, tempDir, writeImage } from "../helpers/sticks.js";

const MiB = 1024 * 1024;
const skip = missingCommands(["qemu-system-x86_64"]).length > 0 ? "needs qemu-system-x86_64 (Debian: qemu-system-x86)" : false;
const T = 5 * 60_000;

type Ctx = Parameters<typeof tempDir>[0];

/** A stick whose guest runs `script` (its lines to /dev/console show up at once on the launcher's stdout). */
async function stickWith(t: Ctx, script: string, policy: Record<string, unknown> = {}, at?: string): Promise<{ dir: string; stick: string; image: Buffer }> {
  const guest = await buildTestGuest(guestCacheDir());
  const dir = await tempDir(t);
  const { path, bytes } = await writeImage(dir, [{ random: 2 * MiB }]);
  const policyFile = join(dir, "policy.json");
  await writeFile(policyFile, JSON.stringify({ network: "none", memory: "256M", cpus: 1, ...policy }));
  const stick = at ?? join(dir, "stick");
  await fastBuild({
    image: path, out: stick, signingKey: await adminKey(dir), userSize: 8 * MiB, localSize: 8 * MiB, policy: policyFile,
    boot: { kernel: guest.kernel, initrd: guest.initrd, append: `console=ttyS0 loglevel=1 panic=-1 stickvm.disks=${Object.values(SERIALS).join(",")} stickvm.run=${Buffer.from(script).toString("base64")}` },
  });
  return { dir, stick, image: bytes };
}

/** A host in a folder: HOME, TMPDIR and the XDG folders, as a fresh user account has them. */
async function sandbox(dir: string): Promise<{ root: string; env: Record<string, string> }> {
  const root = join(dir, "host");
  const env = { HOME: join(root, "home"), TMPDIR: join(root, "tmp"), XDG_RUNTIME_DIR: join(root, "run") };
  for (const d of Object.values(env)) await mkdir(d, { recursive: true });
  return { root, env: { ...env, XDG_CACHE_HOME: "", XDG_CONFIG_HOME: "", XDG_DATA_HOME: "" } };
}

/** Every path under `dir` with its type, size and content hash. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const name of await readdir(d)) {
      const p = join(d, name);
      const st = await lstat(p);
      if (st.isDirectory()) {
        out.set(p, "dir");
        await walk(p);
      } else out.set(p, `${st.isFile() ? "file" : "other"} ${st.size} ${st.isFile() ? createHash("sha256").update(await readFile(p)).digest("hex") : ""}`);
    }
  };
  await walk(dir);
  return out;
}

/** Regular files under the folders that hold `needle` (unreadable ones and ones over 256 MiB are skipped). */
async function filesHolding(dirs: string[], needle: Buffer): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(d, name);
      const st = await lstat(p).catch(() => undefined);
      if (st?.isDirectory() === true) await walk(p);
      else if (st?.isFile() === true && st.size <= 256 * MiB) {
        const bytes = await readFile(p).catch(() => undefined);
        if (bytes?.includes(needle) === true) found.push(p);
      }
    }
  };
  for (const d of dirs) await walk(d);
  return found;
}

/** The guest writes a marker to each of its three disks, syncs, says so, and waits a little. */
function markerScript(marker: string): string {
  const [a, b] = [marker.slice(0, 8), marker.slice(8)];
  const writes = Object.values(SERIALS).map((s) => `printf '%s%s' "$m" "$m" | dd of=${guestDiskPath(s)} bs=4096 seek=100 conv=fsync 2>/dev/null`).join("\n");
  // the marker is put together in the guest, so that not even the script holds it
  return `m="${a}""${b}"\n${writes}\nsync\necho markers-written > /dev/console\nsleep 4\n`;
}

function pgrep(pattern: string): boolean {
  return spawnSync("pgrep", ["-f", pattern]).status === 0;
}

async function noPlayerLeft(pattern: string): Promise<void> {
  for (let i = 0; i < 30 && pgrep(pattern); i++) await sleep(100);
  assert.equal(pgrep(pattern), false, "the player is gone");
}

for (const host of ["kiosk", "trusted"] as const) {
  test(`a whole ${host} session: the guest's marker reaches no file in plaintext, and the host is left ${host === "kiosk" ? "as it was" : "with only ciphertext in the cache"}`, { skip, timeout: T }, async (t) => {
    const marker = `STICKVM-NO-TRACE-${randomBytes(8).toString("hex")}`;
    const { dir, stick, image } = await stickWith(t, markerScript(marker), { host });
    const sb = await sandbox(dir);
    const before = await snapshot(sb.root);
    const r = startRun(["--stick", stick, "--headless", "--powerdown-timeout", "5"], { env: sb.env });
    t.after(() => r.proc.kill("SIGKILL"));
    await r.waitFor(/markers-written/, 180_000);
    // the host's temp and runtime folders are the sandbox's (TMPDIR, XDG_RUNTIME_DIR); /dev/shm is a run folder candidate too
    const places = [sb.root, stick, "/dev/shm"];
    assert.deepEqual(await filesHolding(places, Buffer.from(marker)), [], "during the session");
    assert.equal(await r.exited, 0, r.stderr());
    assert.deepEqual(await filesHolding(places, Buffer.from(marker)), [], "after the session");
    assert.match(r.stderr(), /wiped this session's files on the host: \d+ folders/);
    const after = await snapshot(sb.root);
    const added = [...after.keys()].filter((p) => before.get(p) !== after.get(p));
    const removed = [...before.keys()].filter((p) => !after.has(p));
    assert.deepEqual(removed, []);
    if (host === "kiosk") {
      assert.deepEqual(added, [], "nothing new, nothing changed");
    } else {
      const cacheRoot = join(sb.env.HOME ?? "", ".cache", "stickvm");
      assert.ok(added.length > 0 && added.every((p) => p === join(sb.env.HOME ?? "", ".cache") || p.startsWith(cacheRoot)), added.join("\n"));
      // ciphertext: no 32 bytes of any chunk of the (random) image appear in any file
      for (let at = 0; at < image.length; at += 64 * 1024) {
        assert.deepEqual(await filesHolding([cacheRoot], image.subarray(at, at + 32)), [], `plaintext of chunk ${at / 65536} in the cache`);
      }
    }
  });
}

test("a launcher killed with -9 takes its player with it; stickvm wipe, and the next start, finish the wipe from the stick's journal", { skip, timeout: T }, async (t) => {
  const { dir, stick } = await stickWith(t, "echo up > /dev/console\nsleep 600\n");
  const sb = await sandbox(dir);
  const before = await snapshot(sb.root);
  const kill9 = async (): Promise<void> => {
    const r = startRun(["--stick", stick, "--headless", "--powerdown-timeout", "1"], { env: sb.env });
    t.after(() => r.proc.kill("SIGKILL"));
    await r.waitFor(/^up\r?$/m, 180_000);
    r.proc.kill("SIGKILL");
    await r.exited;
    await noPlayerLeft(sb.env.XDG_RUNTIME_DIR ?? "");
    assert.notDeepEqual(await snapshot(sb.root), before, "the killed session left its folders");
  };
  await kill9();
  const wipe = (): { items: { what: string; outcome: string }[] } => {
    const w = spawnSync(process.execPath, [STICKVM, "wipe", "--stick", stick, "--json"], { encoding: "utf8", env: { ...process.env, ...sb.env } });
    assert.equal(w.status, 0, w.stderr);
    return JSON.parse(w.stdout) as { items: { what: string; outcome: string }[] };
  };
  const first = wipe();
  assert.deepEqual(first.items.map((i) => `${i.what} ${i.outcome}`).sort(), ["cache wiped", "cache-parent wiped", "cache-parent wiped", "run wiped", "session wiped"]);
  assert.deepEqual(await snapshot(sb.root), before);
  assert.deepEqual(wipe().items, [], "a second wipe finds nothing");

  await kill9();
  const next = startRun(["--stick", stick, "--headless", "--powerdown-timeout", "1"], { env: sb.env });
  t.after(() => next.proc.kill("SIGKILL"));
  await next.waitFor(/finished the wipe of an earlier session that did not end cleanly: 5 of 5 folders/, 60_000, "stderr");
  await next.waitFor(/^up\r?$/m, 180_000);
  next.proc.kill("SIGTERM");
  assert.equal(await next.exited, EXIT.interrupted, next.stderr());
  assert.deepEqual(await snapshot(sb.root), before);
});

const canMount = process.getuid?.() === 0 && missingCommands(["mkfs.ext4"]).length === 0;

test(`a pulled stick (${canMount ? "a loop-mounted ext4 unmounted with umount -l" : "its folder moved away"}) stops the player within 2 s, the residue is wiped, and the user disk opens clean when it is back`, { skip, timeout: T }, async (t) => {
  const base = await tempDir(t);
  const mnt = join(base, "mnt");
  await mkdir(mnt);
  const fsImage = join(base, "stick.ext4");
  const mount = (): void => {
    const m = spawnSync("mount", ["-o", "loop", fsImage, mnt], { encoding: "utf8" });
    assert.equal(m.status, 0, m.stderr);
  };
  if (canMount) {
    assert.equal(spawnSync("mkfs.ext4", ["-q", "-F", fsImage, "256M"]).status, 0);
    mount();
    t.after(() => { spawnSync("umount", ["-l", mnt]); });
  }
  const script = `printf 'kept-by-flush' | dd of=${guestDiskPath(SERIALS.user)} bs=4096 seek=10 conv=fsync 2>/dev/null\necho flushed > /dev/console\nsleep 600\n`;
  const { dir, stick } = await stickWith(t, script, {}, join(mnt, "stick"));
  const sb = await sandbox(dir);
  const before = await snapshot(sb.root);
  const r = startRun(["--stick", stick, "--headless"], { env: sb.env });
  t.after(() => r.proc.kill("SIGKILL"));
  await r.waitFor(/^flushed\r?$/m, 180_000);
  const pulledAt = Date.now();
  if (canMount) assert.equal(spawnSync("umount", ["-l", mnt]).status, 0);
  else await rename(mnt, `${mnt}-away`);
  while (pgrep(sb.env.XDG_RUNTIME_DIR ?? "") && Date.now() - pulledAt < 10_000) await sleep(50);
  const seconds = (Date.now() - pulledAt) / 1000;
  assert.ok(seconds < 2, `the player stopped ${seconds} s after the stick went`);
  t.diagnostic(`the player stopped ${seconds.toFixed(2)} s after the stick went`);
  assert.equal(await r.exited, EXIT.stickRemoved, r.stderr());
  assert.match(r.stderr(), /the stick is gone/);
  assert.deepEqual(await snapshot(sb.root), before, "the residue was wiped from memory");

  if (canMount) mount();
  else await rename(`${mnt}-away`, mnt);
  const s = await serve(["--stick", stick, "--socket", join(base, "nbd.sock")], sb.env);
  const user = s.exports.get("user")?.uri ?? "";
  assert.match(runClient("qemu-io", ["-f", "raw", "-c", `read -v ${10 * 4096} 13`, user]), /6b 65 70 74 2d 62 79 2d 66 6c 75 73 68/, "the write the guest had flushed");
  assert.equal(await s.stop(), 0, s.output());
  // before the temp folder's removal (the hooks run after it)
  if (canMount) assert.equal(spawnSync("umount", [mnt]).status, 0);
});
