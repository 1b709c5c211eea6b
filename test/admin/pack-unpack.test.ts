// make-stick pack and unpack (FORMAT.md §31): a stick through an encrypted 7z archive comes out
// whole (make-stick verify accepts it, and it boots), and every bad input gets its own error
// and leaves nothing that could pass for a stick.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { statfsSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { packStick } from "../../src/admin/pack.js";
import { sevenZipBinary } from "../../src/admin/seven-zip.js";
import { unpackStick } from "../../src/admin/unpack.js";
import { verifyStick } from "../../src/admin/verify.js";
import { readHeaderCopies } from "../../src/chunkstore/stick-files.js";
import { StickvmError } from "../../src/errors/errors.js";
import { runStick } from "../../src/run/run-stick.js";
import { UNPACK_MARKER } from "../../stick-layout/format.js";
import { exists, flipBit } from "../helpers/files.js";
import { buildTestGuest, guestCacheDir, missingCommands } from "../helpers/guest.js";
import { adminKey, fastBuild, MAKE_STICK, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

const MiB = 1024 * 1024;
/** Not ASCII, so that 7-Zip's reading of it through stdin must match its reading from argv. */
const ARCHIVE_PASSPHRASE = "grüne Äpfel, 7 Brücken";
const noQemu = missingCommands(["qemu-system-x86_64"]).length > 0 ? "needs qemu-system-x86_64 (Debian: qemu-system-x86)" : false;

async function rejectsWith(run: Promise<unknown>, code: StickvmError["code"], message: RegExp): Promise<void> {
  await assert.rejects(run, (err: unknown) => {
    assert.ok(err instanceof StickvmError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

/** Every file under `dir` with the SHA-256 of its bytes, by relative path. */
async function tree(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const rel of (await readdir(dir, { recursive: true })).sort()) {
    const path = join(dir, rel);
    if ((await stat(path)).isFile()) files.set(rel, createHash("sha256").update(await readFile(path)).digest("hex"));
  }
  return files;
}

/** A process id that no process has: a finished child's. */
function deadPid(): number {
  const r = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" });
  return Number(r.stdout.trim());
}

test("pack then unpack gives the same stick, which make-stick verify accepts and which boots", { timeout: 10 * 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const { path: image, bytes } = await writeImage(dir, [{ random: MiB }, { zeros: MiB }, { random: 512 * 1024 }]);
  const stick = join(dir, "stick");
  const guest = noQemu === false ? await buildTestGuest(guestCacheDir()) : undefined;
  const script = "md5sum < /dev/disk/by-serial/stickvm-system";
  await fastBuild({
    image, out: stick, signingKey: await adminKey(dir),
    ...(guest === undefined ? {} : {
      boot: { kernel: guest.kernel, initrd: guest.initrd, append: `console=ttyS0 loglevel=1 panic=-1 stickvm.disks=stickvm-system,stickvm-user,stickvm-local stickvm.run=${Buffer.from(script).toString("base64")}` },
    }),
  });
  // what a stick that was used carries: other hosts' residue journals and a lock its owner left
  await mkdir(join(stick, "residue"));
  await writeFile(join(stick, "residue", "0123456789abcdef0123456789abcdef.jsonl"), "");
  await writeFile(join(stick, "stickvm.lock"), JSON.stringify({ pid: deadPid(), host: hostname(), startedMs: Date.now() }));
  const archive = join(dir, "stick.7z");

  const packed = await packStick({ stick, out: archive, passphrase: ARCHIVE_PASSPHRASE });
  const archiveBytes = await readFile(archive);
  assert.equal(packed.archiveBytes, archiveBytes.length);
  assert.equal(archiveBytes.indexOf(Buffer.from("keyslots.bin", "utf16le")), -1, "the names inside are encrypted (-mhe=on)");
  assert.deepEqual((await readdir(dir)).filter((n) => n.includes("partial")), [], "no temporary archive is left");

  await t.test("another 7-Zip opens it with the passphrase given the usual way, on its command line", async () => {
    const r = spawnSync(await sevenZipBinary(), ["t", `-p${ARCHIVE_PASSPHRASE}`, archive], { encoding: "utf8", env: { ...process.env, LC_ALL: "C.UTF-8" } });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  const out = join(dir, "unpacked");
  await t.test("unpack writes the same files, without the residue journals and the lock, and no marker", async () => {
    const statuses: string[] = [];
    const r = await unpackStick({ archive, out, passphrase: ARCHIVE_PASSPHRASE, onStatus: (m) => statuses.push(m) });
    assert.deepEqual(statuses, [`checking ${archive}`, `unpacking to ${out}`]);
    const expected = await tree(stick);
    for (const name of [...expected.keys()]) if (name.startsWith("residue") || name === "stickvm.lock") expected.delete(name);
    assert.deepEqual(await tree(out), expected);
    assert.equal(r.files, expected.size);
    assert.equal(r.info.base.diskSize, bytes.length);
    assert.equal(await exists(join(out, UNPACK_MARKER)), false);
  });

  await t.test("make-stick verify accepts the unpacked stick", async () => {
    const report = await verifyStick(out, { passphrase: PASSPHRASE });
    assert.ok(report.ok, JSON.stringify(report.checks));
    assert.ok(report.chunksChecked > 0);
  });

  await t.test("the unpacked stick boots and its guest reads the base image", { skip: noQemu }, async () => {
    const output = new PassThrough();
    let console = "";
    output.setEncoding("utf8").on("data", (d: string) => (console += d));
    const outcome = await runStick({
      stick: out,
      unlock: { passphrase: PASSPHRASE },
      headless: true,
      powerdownTimeoutMs: 10_000,
      terminal: { input: new PassThrough(), output },
      stopRequests: () => () => undefined,
      onStatus: () => undefined,
      onWarning: (m) => { assert.fail(`warning: ${m}`); },
    });
    assert.deepEqual(outcome, { stoppedBy: "guest" });
    const md5 = createHash("md5").update(bytes).digest("hex");
    assert.match(console.replaceAll("\r\n", "\n"), new RegExp(`output begin=====\\n${md5}  -\\n`), console);
  });

  await t.test("a wrong archive passphrase is refused before anything is written", async () => {
    const target = join(dir, "wrong");
    await rejectsWith(unpackStick({ archive, out: target, passphrase: "not the passphrase at all" }), "WRONG_PASSPHRASE", /wrong archive passphrase/);
    assert.equal(await exists(target), false);
  });

  await t.test("a truncated archive is refused before anything is written", async () => {
    const short = join(dir, "short.7z");
    await writeFile(short, archiveBytes);
    await truncate(short, archiveBytes.length - 1000);
    const target = join(dir, "from-short");
    await rejectsWith(unpackStick({ archive: short, out: target, passphrase: ARCHIVE_PASSPHRASE }), "BAD_ARCHIVE", /truncated or damaged/);
    assert.equal(await exists(target), false);
  });

  await t.test("an archive damaged in the middle fails its check before anything is written", async () => {
    const bad = join(dir, "bad.7z");
    await writeFile(bad, archiveBytes);
    await flipBit(bad, Math.floor(archiveBytes.length / 2));
    const target = join(dir, "from-bad");
    await mkdir(target);
    await rejectsWith(unpackStick({ archive: bad, out: target, passphrase: ARCHIVE_PASSPHRASE }), "BAD_ARCHIVE", /CRC Failed|Data Error/);
    assert.deepEqual(await readdir(target), [], "the empty folder it was given stays empty");
  });

  await t.test("a folder that is not empty is refused and left alone", async () => {
    const busy = join(dir, "busy");
    await mkdir(busy);
    await writeFile(join(busy, "precious.txt"), "keep me");
    await rejectsWith(unpackStick({ archive, out: busy, passphrase: ARCHIVE_PASSPHRASE }), "OUTPUT_NOT_EMPTY", /not empty.*make-stick unpack/);
    assert.deepEqual(await readdir(busy), ["precious.txt"]);
  });

  await t.test("an interrupted unpack removes what it wrote", async () => {
    const target = join(dir, "interrupted");
    const stop = new AbortController();
    await rejectsWith(
      unpackStick({ archive, out: target, passphrase: ARCHIVE_PASSPHRASE, signal: stop.signal, onStatus: (m) => { if (m.startsWith("unpacking")) stop.abort(); } }),
      "INTERRUPTED",
      /partial stick .* was removed/,
    );
    assert.equal(await exists(target), false);
  });

  await t.test("pack refuses an archive name that exists, and a short chosen passphrase", async () => {
    await rejectsWith(packStick({ stick, out: archive, passphrase: ARCHIVE_PASSPHRASE }), "OUTPUT_NOT_EMPTY", /already exists/);
    await rejectsWith(packStick({ stick, out: join(dir, "other.7z"), passphrase: "too short" }), "USAGE", /fewer than 16 characters/);
    assert.equal(await exists(join(dir, "other.7z")), false);
  });

  await t.test("pack refuses a stick in use", async () => {
    await writeFile(join(stick, "stickvm.lock"), JSON.stringify({ pid: process.pid, host: hostname(), startedMs: Date.now() }));
    await rejectsWith(packStick({ stick, out: join(dir, "busy.7z"), passphrase: ARCHIVE_PASSPHRASE }), "USAGE", /in use by process/);
    assert.equal(await exists(join(dir, "busy.7z")), false);
  });
});

test("unpack onto a file system too small for the stick: NO_SPACE, and nothing is left", { timeout: 5 * 60_000 }, async (t) => {
  const mnt = await mkdtemp(join(tmpdir(), "stickvm-small-"));
  t.after(async () => {
    spawnSync("umount", [mnt]);
    await rm(mnt, { recursive: true, force: true });
  });
  if (spawnSync("mount", ["-t", "tmpfs", "-o", "size=600m", "tmpfs", mnt]).status !== 0) {
    t.skip("cannot mount a small tmpfs here (needs root): the full-disk paths are not tested");
    return;
  }
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: MiB }]);
  const stick = join(dir, "stick");
  await fastBuild({ image, out: stick, signingKey: await adminKey(dir) });
  const archive = join(dir, "stick.7z");
  const { bytes } = await packStick({ stick, out: archive, passphrase: ARCHIVE_PASSPHRASE });

  /** Leaves `room` bytes free on the small file system. */
  const fill = (room: number): void => {
    const s = statfsSync(mnt);
    writeFileSync(join(mnt, "filler"), Buffer.alloc(s.bavail * s.bsize - room));
  };

  await t.test("found before writing: the archive's listing says the stick needs more than there is", async () => {
    fill(bytes / 2);
    await rejectsWith(unpackStick({ archive, out: join(mnt, "stick"), passphrase: ARCHIVE_PASSPHRASE }), "NO_SPACE", /needs about \d+ bytes, there are \d+ free/);
    assert.deepEqual(await readdir(mnt), ["filler"]);
    await rm(join(mnt, "filler"));
  });

  await t.test("found while writing: the space goes after the check, while 7-Zip writes", async () => {
    const target = join(mnt, "stick");
    await assert.rejects(
      unpackStick({ archive, out: target, passphrase: ARCHIVE_PASSPHRASE, onStatus: (m) => { if (m.startsWith("checking")) fill(2 * MiB); } }),
      (err: unknown) => {
        assert.ok(err instanceof StickvmError && err.code === "NO_SPACE", String(err));
        assert.doesNotMatch(err.message, /needs about/, "not the check before writing");
        return true;
      },
    );
    assert.equal(await exists(target), false, "the partial stick was removed");
  });
});

test("make-stick pack prints a generated passphrase; a crash during unpack leaves a folder that verify and info name as an unfinished unpack", { timeout: 5 * 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: MiB }]);
  const stick = join(dir, "stick");
  await fastBuild({ image, out: stick, signingKey: await adminKey(dir) });
  const archive = join(dir, "stick.7z");
  const pack = spawnSync(process.execPath, [MAKE_STICK, "pack", "--stick", stick, "--out", archive], { encoding: "utf8" });
  assert.equal(pack.status, 0, pack.stderr);
  const generated = /archive passphrase \(shown once; send it apart from the archive\):\n {2}([A-Z2-7]{4}(?:-[A-Z2-7]{4}){7})\n/.exec(pack.stdout)?.[1];
  assert.ok(generated !== undefined, pack.stdout);
  const passFile = join(dir, "archive-passphrase");
  await writeFile(passFile, `${generated}\n`);
  const out = join(dir, "unpacked");

  const child = spawn(process.execPath, [MAKE_STICK, "unpack", "--archive", archive, "--out", out, "--passphrase-file", passFile], { stdio: "ignore" });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  for (let i = 0; !(await exists(join(out, UNPACK_MARKER))); i++) {
    assert.ok(i < 2000 && child.exitCode === null, "the marker appears while make-stick unpack runs");
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill("SIGKILL"); // a crash: no cleanup runs
  await exited;
  // 7za runs in a session of its own and outlives make-stick; wait for it (it is ours: its command line names our folder)
  let seen = 0;
  for (let i = 0; i < 600; i++) {
    const running = sevenZipCommandLines(out);
    if (running.length === 0) break;
    seen += running.length;
    for (const line of running) assert.ok(!line.includes(generated), "the passphrase is not on 7za's command line");
    await new Promise((r) => setTimeout(r, 100));
  }
  if (seen === 0) t.diagnostic("make-stick was killed before it started 7za: its command line was not checked this time");

  await rejectsWith(readHeaderCopies(out), "INCOMPLETE_STICK", /unfinished unpack \(UNPACKING\.txt is here: make-stick unpack was interrupted/);
  const verify = spawnSync(process.execPath, [MAKE_STICK, "verify", "--stick", out], { encoding: "utf8", env: { ...process.env, STICKVM_PASSPHRASE: PASSPHRASE } });
  assert.equal(verify.status, 5, verify.stderr);
  assert.match(verify.stdout, /FAIL header readable: .*unfinished unpack/);
  const info = spawnSync(process.execPath, [MAKE_STICK, "info", "--stick", out], { encoding: "utf8" });
  assert.equal(info.status, 5);
  assert.match(info.stderr, /unfinished unpack/);

  // a header torn while the unpack wrote it
  await writeFile(join(out, "stick.hdr"), Buffer.alloc(8192));
  await rejectsWith(readHeaderCopies(out), "CORRUPT_STICK", /header is damaged .*UNPACKING\.txt is here: make-stick unpack was interrupted while writing the header/);
});

/** The command lines of the 7za processes that name `out`. */
function sevenZipCommandLines(out: string): string[] {
  const r = spawnSync("sh", ["-c", `for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done`], { encoding: "utf8" });
  return r.stdout.split("\n").filter((line) => line.includes("7za") && line.includes(`-o${out}`));
}
