import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { StickvmError } from "../../src/errors/errors.js";
import { exists } from "../helpers/files.js";
import { adminKey, FAST_KDF_ARGS, fastBuild, haveTool, MAKE_STICK, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

/** Asserts the build failed with `code` and left no stick (and no folder it created) behind. */
async function assertFailsCleanly(run: Promise<unknown>, code: StickvmError["code"], message: RegExp, out: string, outExisted = false): Promise<void> {
  await assert.rejects(run, (err: unknown) => {
    assert.ok(err instanceof StickvmError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
  if (outExisted) assert.deepEqual(await readdir(out), []);
  else assert.equal(await exists(out), false, "the output folder was removed");
}

test("build refuses bad input with a clear error and leaves nothing that looks like a stick", async (t) => {
  const dir = await tempDir(t);
  const key = await adminKey(dir);
  const out = join(dir, "stick");

  await t.test("a missing image", async () => {
    await assertFailsCleanly(fastBuild({ image: join(dir, "nope.raw"), out, signingKey: key }), "BAD_IMAGE", /does not exist/, out);
  });

  await t.test("a folder given as the image", async () => {
    await assertFailsCleanly(fastBuild({ image: dir, out, signingKey: key }), "BAD_IMAGE", /is a folder/, out);
  });

  await t.test("an image whose size is not a multiple of 512", async () => {
    const path = join(dir, "odd.raw");
    await writeFile(path, randomBytes(70_000));
    await assertFailsCleanly(fastBuild({ image: path, out, signingKey: key }), "BAD_IMAGE", /not a multiple of 512/, out);
  });

  await t.test("an empty image", async () => {
    const path = join(dir, "empty.raw");
    await writeFile(path, "");
    await assertFailsCleanly(fastBuild({ image: path, out, signingKey: key }), "BAD_IMAGE", /is empty/, out);
  });

  await t.test("a stick folder that is not empty", async () => {
    const { path } = await writeImage(dir, [{ random: 4096 }], "ok.raw");
    const busy = join(dir, "busy");
    await mkdir(busy);
    await writeFile(join(busy, "precious.txt"), "keep me");
    await assert.rejects(fastBuild({ image: path, out: busy, signingKey: key }), /is not empty/);
    assert.equal(await readFile(join(busy, "precious.txt"), "utf8"), "keep me");
  });

  await t.test("key files that are not an admin secret key", async () => {
    const { path } = await writeImage(dir, [{ random: 4096 }], "ok2.raw");
    const pub = join(dir, "keys", "admin.pub");
    await assertFailsCleanly(fastBuild({ image: path, out, signingKey: pub }), "BAD_KEY_FILE", /public half/, out);
    const junk = join(dir, "junk.key");
    await writeFile(junk, "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n");
    await assertFailsCleanly(fastBuild({ image: path, out, signingKey: junk }), "BAD_KEY_FILE", /not a stickvm admin key/, out);
    const mixed = join(dir, "mixed.key");
    // a seed with a public key that is not its own: another key pair's "public:" line
    const otherKey = await readFile(await adminKey(await tempDir(t)), "utf8");
    const otherPublicLine = /^public: .*$/m.exec(otherKey)?.[0];
    assert.ok(otherPublicLine !== undefined);
    await writeFile(mixed, (await readFile(key, "utf8")).replace(/^public: .*$/m, otherPublicLine));
    await assertFailsCleanly(fastBuild({ image: path, out, signingKey: mixed }), "BAD_KEY_FILE", /does not belong to its seed/, out);
    await assertFailsCleanly(fastBuild({ image: path, out, signingKey: join(dir, "none.key") }), "BAD_KEY_FILE", /does not exist/, out);
  });

  await t.test("a recovery key file that already exists, before any work is done", async () => {
    const { path } = await writeImage(dir, [{ random: 4096 }], "ok3.raw");
    const rk = join(dir, "rk.txt");
    await writeFile(rk, "old key");
    await assertFailsCleanly(fastBuild({ image: path, out, signingKey: key, recoveryKeyFile: rk }), "USAGE", /already exists/, out);
    assert.equal(await readFile(rk, "utf8"), "old key");
  });

  await t.test("a qcow2 image when qemu-img is not installed names the package", async () => {
    const path = join(dir, "fake.qcow2");
    await writeFile(path, Buffer.concat([Buffer.from("QFI\xfb", "latin1"), Buffer.alloc(508)]));
    const saved = process.env.PATH;
    process.env.PATH = join(dir, "empty-bin");
    try {
      await assertFailsCleanly(fastBuild({ image: path, out, signingKey: key }), "MISSING_TOOL", /qemu-img.*apt-get install qemu-utils/, out);
    } finally {
      process.env.PATH = saved;
    }
  });
});

test("a truncated qcow2 gives a clear error and no stick", { skip: haveTool("qemu-img") ? false : "qemu-img is not installed" }, async (t) => {
  const dir = await tempDir(t);
  const { path } = await writeImage(dir, [{ random: 4 * 1024 * 1024 }]);
  const qcow = join(dir, "disk.qcow2");
  assert.equal(spawnSync("qemu-img", ["convert", "-O", "qcow2", path, qcow]).status, 0);
  await truncate(qcow, (await stat(qcow)).size - 1024 * 1024);
  const out = join(dir, "stick");
  await assertFailsCleanly(fastBuild({ image: qcow, out, signingKey: await adminKey(dir) }), "BAD_IMAGE", /qemu-img could not read/, out);
});

test("a full disk during the build fails with NO_SPACE and removes the partial stick", { skip: process.getuid?.() === 0 ? false : "mounting a small tmpfs needs root" }, async (t) => {
  const dir = await tempDir(t);
  const { path } = await writeImage(dir, [{ random: 3 * 1024 * 1024 }]);
  const mnt = join(dir, "small");
  await mkdir(mnt);
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt]);
  if (mounted.status !== 0) {
    t.skip(`cannot mount a tmpfs here: ${mounted.stderr.toString().trim()}`);
    return;
  }
  try {
    const out = join(mnt, "stick");
    await assertFailsCleanly(fastBuild({ image: path, out, signingKey: await adminKey(dir) }), "NO_SPACE", /no space left/, out);
    assert.deepEqual(await readdir(mnt), []);
  } finally {
    spawnSync("umount", [mnt]);
  }
});

test("Ctrl-C during a build removes the partial stick and exits 130", async (t) => {
  const dir = await tempDir(t);
  const key = await adminKey(dir);
  const image = join(dir, "big.raw");
  await writeFile(image, randomBytes(16 * 1024 * 1024));
  for (let i = 0; i < 8; i++) await writeFile(image, randomBytes(16 * 1024 * 1024), { flag: "a" });
  const out = join(dir, "stick");
  const child = spawn(
    process.execPath,
    [MAKE_STICK, "build", "--image", image, "--out", out, "--signing-key", key, "--compression-level", "9", "--threads", "1", ...FAST_KDF_ARGS],
    { env: { ...process.env, STICKVM_PASSPHRASE: PASSPHRASE }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  // wait until the build has written into its folder, then interrupt it
  for (let i = 0; i < 200 && !(await exists(join(out, "chunks"))); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(await exists(join(out, "chunks")), "the build started writing");
  child.kill("SIGINT");
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  assert.equal(code, 130, stderr);
  assert.match(stderr, /build was interrupted; the partial stick was removed/);
  assert.equal(await exists(out), false, "the partial stick is gone");
});
