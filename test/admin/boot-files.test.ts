import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { bootFileManifest, parseBootManifest } from "../../stick-layout/boot-manifest.js";
import { ChunkIndex } from "../../stick-layout/chunk-index.js";
import { bootManifestFileName, indexFileName, manifestFileName, packFileName, STICK_FILES } from "../../stick-layout/format.js";
import { parseHeaderFile } from "../../stick-layout/header.js";
import { manifestEntry } from "../../stick-layout/manifest.js";
import { formatStickInfo, stickInfo } from "../../src/admin/info.js";
import { formatVerifyReport, verifyStick } from "../../src/admin/verify.js";
import { writeBootFiles } from "../../src/chunkstore/boot-files.js";
import { openStick } from "../../src/chunkstore/open-stick.js";
import { EXIT } from "../../src/cli/exit-codes.js";
import { sha256 } from "../../src/crypto/hash.js";
import { StickvmError } from "../../src/errors/errors.js";
import { LayoutError } from "../../src/util/bytes.js";
import { copyOf, exists, flipBit } from "../helpers/files.js";
import { forgeHeaderDigest, refusedWith } from "../helpers/tamper.js";
import { adminKey, FAST_KDF_ARGS, fastBuild, makeStick, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

const CHUNK = 64 * 1024;
const BOOT = manifestFileName(1).replace("manifest", "boot");
const APPEND = "console=ttyS0 root=/dev/vda1 quiet lang=fr_FR.UTF-8 greeting=bienvenüe";

/** A kernel whose first chunk is the base's first (stored once), then bytes of its own ending mid-sector. */
function kernelFor(base: Buffer): Buffer {
  return Buffer.concat([base.subarray(0, CHUNK), randomBytes(CHUNK + 777)]);
}

/** An initrd with a zero chunk in the middle and a short tail. */
function initrdBytes(): Buffer {
  return Buffer.concat([randomBytes(CHUNK), Buffer.alloc(CHUNK), randomBytes(1234)]);
}

test("boot files: stored in the same packs, read back byte for byte, described, verified, tampering refused", async (t) => {
  const dir = await tempDir(t);
  const key = await adminKey(dir);
  const { path: image, bytes: baseBytes } = await writeImage(dir, [{ random: 3 * CHUNK }, { zeros: CHUNK }]);
  const kernel = kernelFor(baseBytes);
  const initrd = initrdBytes();
  await writeFile(join(dir, "vmlinuz"), kernel);
  await writeFile(join(dir, "initrd.img"), initrd);
  const stick = join(dir, "stick");
  const built = await fastBuild({ image, out: stick, signingKey: key, boot: { kernel: join(dir, "vmlinuz"), initrd: join(dir, "initrd.img"), append: APPEND } });

  assert.equal(BOOT, bootManifestFileName(1));
  assert.deepEqual(built.boot, {
    kernel: { bytes: kernel.length, chunks: { total: 3, zero: 0, unique: 2, duplicate: 1 } },
    initrd: { bytes: initrd.length, chunks: { total: 3, zero: 1, unique: 2, duplicate: 0 } },
    append: APPEND,
  });
  const index = ChunkIndex.parse(await readFile(join(stick, indexFileName(1))));
  assert.equal(index.count, 3 + 2 + 2, "one index holds the base's and the boot files' chunks, each once");
  const bootManifest = parseBootManifest(await readFile(join(stick, BOOT))).manifest;

  await t.test("the header is format version 3, names the boot manifest, and no user template", async () => {
    const copies = parseHeaderFile(await readFile(join(stick, STICK_FILES.header)));
    for (const c of copies) {
      assert.ok(!(c instanceof LayoutError));
      assert.equal(c.header.formatVersion, 3);
      assert.deepEqual(c.header.bootDigest, sha256(await readFile(join(stick, BOOT))));
      assert.equal(c.header.userTemplateDigest, undefined);
    }
  });

  await t.test("openStick loads the boot files; writeBootFiles decodes them exactly", async (t) => {
    const s = await openStick(stick, { passphrase: PASSPHRASE });
    try {
      assert.ok(s.boot);
      assert.equal(s.userTemplate, undefined);
      assert.equal(s.boot.append, APPEND);
      assert.equal(s.boot.kernelSize, kernel.length);
      assert.equal(s.boot.initrdSize, initrd.length);
      const out = await tempDir(t);
      const files = await writeBootFiles(s, out);
      assert.ok(files);
      assert.equal(files.append, APPEND);
      assert.ok((await readFile(files.kernel)).equals(kernel));
      assert.ok((await readFile(files.initrd)).equals(initrd));
      for (const f of [files.kernel, files.initrd]) assert.equal((await stat(f)).mode & 0o777, 0o600);
      assert.ok((await s.base.read(0, baseBytes.length)).equals(baseBytes));
    } finally {
      await s.close();
    }
  });

  await t.test("info reports the boot files", async () => {
    const info = await stickInfo(stick);
    assert.equal(info.formatVersion, 3);
    assert.deepEqual(info.boot, {
      kernel: { size: kernel.length, chunks: { total: 3, zero: 0, referenced: 3 } },
      initrd: { size: initrd.length, chunks: { total: 3, zero: 1, referenced: 2 } },
      append: APPEND,
    });
    assert.equal(info.base.dedupRatio, (3 + 3 + 2) / 7);
    const text = formatStickInfo(info);
    assert.match(text, /chunks +1 zero, 3 with data, 7 stored \(with the boot files'\)/);
    assert.ok(text.includes(`boot          kernel ${kernel.length} bytes (3 chunks), initrd ${initrd.length} bytes (3 chunks), command line ${JSON.stringify(APPEND)}`), text);
  });

  await t.test("verify checks the boot manifest and the boot files' chunks", async () => {
    const r = await verifyStick(stick, { passphrase: PASSPHRASE });
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.chunksChecked, 7);
    assert.ok(r.checks.some((c) => c.check === "boot manifest" && c.ok));
  });

  await t.test("a damaged chunk: verify names the boot file that uses it, and writeBootFiles fails and leaves no file", async (t) => {
    const s = await copyOf(t, stick);
    const own = manifestEntry(bootFileManifest(bootManifest, "initrd"), 2);
    const loc = index.find(own);
    assert.ok(loc);
    await flipBit(join(s, packFileName(loc.pack)), loc.offset + 100);
    const r = await verifyStick(s, { passphrase: PASSPHRASE });
    assert.deepEqual(
      r.badChunks.map((b) => [b.id, b.usedBy]),
      [[own.toString("hex"), ["boot initrd"]]],
    );
    assert.match(formatVerifyReport(r), /\(used by the boot initrd\)/);

    const opened = await openStick(s, { passphrase: PASSPHRASE });
    const out = await tempDir(t);
    try {
      await assert.rejects(writeBootFiles(opened, out), (err: unknown) => err instanceof StickvmError && err.code === "CHUNK_INVALID");
    } finally {
      await opened.close();
    }
    assert.deepEqual(await readdir(out), []);
  });

  await t.test("verify says a kernel chunk shared with the base is used by both", async (t) => {
    const s = await copyOf(t, stick);
    const shared = bootManifest.kernel.entries.subarray(0, 32);
    const loc = index.find(shared);
    assert.ok(loc);
    await flipBit(join(s, packFileName(loc.pack)), loc.offset + 100);
    const r = await verifyStick(s, { passphrase: PASSPHRASE });
    assert.deepEqual(r.badChunks.map((b) => b.usedBy), [["base", "boot kernel"]]);
  });

  await t.test("an edited boot manifest is refused, and verify checks no chunk", async (t) => {
    const s = await copyOf(t, stick);
    await flipBit(join(s, BOOT), 100);
    await refusedWith(s, /base\/boot-00000001\.bin is not signed by the admin key pinned/);
    const r = await verifyStick(s, { passphrase: PASSPHRASE });
    assert.equal(r.ok, false);
    assert.match(r.checks.find((c) => c.check === "boot manifest")?.problem ?? "", /not signed by the admin key pinned/);
    assert.equal(r.chunksChecked, 0);
  });

  await t.test("boot files signed by the same admin for another stick are refused", async (t) => {
    const otherDir = await tempDir(t);
    await writeFile(join(otherDir, "k"), kernel);
    await writeFile(join(otherDir, "i"), initrd);
    const other = join(otherDir, "stick");
    await fastBuild({ image, out: other, signingKey: key, boot: { kernel: join(otherDir, "k"), initrd: join(otherDir, "i"), append: "single" } });
    const s = await copyOf(t, stick);
    await cp(join(other, BOOT), join(s, BOOT));
    await refusedWith(s, /boot-00000001\.bin is signed but is not the manifest this stick's header names/);
  });

  await t.test("a boot manifest signed by another admin is refused", async (t) => {
    const otherDir = await tempDir(t);
    await writeFile(join(otherDir, "k"), kernel);
    await writeFile(join(otherDir, "i"), initrd);
    const other = join(otherDir, "stick");
    await fastBuild({ image, out: other, signingKey: await adminKey(otherDir), boot: { kernel: join(otherDir, "k"), initrd: join(otherDir, "i"), append: APPEND } });
    const s = await copyOf(t, stick);
    await cp(join(other, BOOT), join(s, BOOT));
    await refusedWith(s, /boot-00000001\.bin is not signed by the admin key pinned/);
  });

  await t.test("the base manifest cannot stand in for the boot manifest", async (t) => {
    const s = await copyOf(t, stick);
    await cp(join(s, manifestFileName(1)), join(s, BOOT));
    await refusedWith(s, /base\/boot-00000001\.bin: boot manifest: bad magic/);
  });

  await t.test("a removed boot manifest is damage, not a stick that boots from its disk", async (t) => {
    const s = await copyOf(t, stick);
    await rm(join(s, BOOT));
    await refusedWith(s, /base\/boot-00000001\.bin is missing/);
  });

  await t.test("the boot digest in the header is under the MAC", async (t) => {
    const s = await copyOf(t, stick);
    await forgeHeaderDigest(s, 272, 304);
    await refusedWith(s, /fails its MAC/);
  });
});

test("boot files with a user template: version 3 names both, and each reads back", async (t) => {
  const dir = await tempDir(t);
  const { path: image, bytes: baseBytes } = await writeImage(dir, [{ random: 2 * CHUNK }]);
  const { path: userImage, bytes: templateBytes } = await writeImage(dir, [{ random: CHUNK }], "profile.raw");
  const kernel = kernelFor(baseBytes);
  const initrd = initrdBytes();
  await writeFile(join(dir, "k"), kernel);
  await writeFile(join(dir, "i"), initrd);
  const stick = join(dir, "stick");
  await fastBuild({ image, out: stick, signingKey: await adminKey(dir), userImage, boot: { kernel: join(dir, "k"), initrd: join(dir, "i"), append: "" } });
  const s = await openStick(stick, { passphrase: PASSPHRASE });
  try {
    assert.equal(s.header.formatVersion, 3);
    assert.deepEqual(s.header.userTemplateDigest, sha256(await readFile(join(stick, STICK_FILES.userTemplate))));
    assert.ok(s.userTemplate && (await s.userTemplate.read(0, templateBytes.length)).equals(templateBytes));
    assert.ok(s.boot);
    assert.equal(s.boot.append, "");
    assert.ok((await s.boot.kernel.read(0, kernel.length)).equals(kernel));
    assert.ok((await s.boot.initrd.read(0, initrd.length)).equals(initrd));
  } finally {
    await s.close();
  }
  const r = await verifyStick(stick, { passphrase: PASSPHRASE });
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.deepEqual(
    r.checks.map((c) => c.check).filter((c) => c.endsWith("manifest")),
    ["user template manifest", "boot manifest"],
  );
});

test("sticks without boot files stay version 1 or 2 and boot from their disk", async (t) => {
  const dir = await tempDir(t);
  const key = await adminKey(dir);
  const { path: image } = await writeImage(dir, [{ random: CHUNK }]);
  const { path: userImage } = await writeImage(dir, [{ random: CHUNK }], "profile.raw");
  for (const [version, extra] of [[1, {}], [2, { userImage }]] as const) {
    const stick = join(dir, `stick-v${version}`);
    const built = await fastBuild({ image, out: stick, signingKey: key, ...extra });
    assert.equal(built.boot, undefined);
    assert.equal((await readFile(join(stick, STICK_FILES.header))).readUInt16LE(8), version);
    assert.equal(await exists(join(stick, BOOT)), false);
    const s = await openStick(stick, { passphrase: PASSPHRASE });
    try {
      assert.equal(s.boot, undefined);
      assert.equal(await writeBootFiles(s, dir), undefined);
    } finally {
      await s.close();
    }
    const info = await stickInfo(stick);
    assert.equal(info.boot, undefined);
    assert.match(formatStickInfo(info), /boot +from the system disk/);
  }
});

test("boot file problems are refused before anything is written", async (t) => {
  const dir = await tempDir(t);
  const key = await adminKey(dir);
  const { path: image } = await writeImage(dir, [{ random: CHUNK }]);
  const kernel = join(dir, "vmlinuz");
  const initrd = join(dir, "initrd.img");
  await writeFile(kernel, randomBytes(1000));
  await writeFile(initrd, randomBytes(2000));
  await writeFile(join(dir, "empty"), "");
  await mkdir(join(dir, "folder"));
  const out = join(dir, "stick");

  const cases: [string, { kernel: string; initrd: string; append: string }, StickvmError["code"], RegExp][] = [
    ["a missing kernel", { kernel: join(dir, "nope"), initrd, append: "" }, "BAD_IMAGE", /boot kernel .*nope does not exist/],
    ["an empty initrd", { kernel, initrd: join(dir, "empty"), append: "" }, "BAD_IMAGE", /boot initrd .*empty is empty/],
    ["a folder as the kernel", { kernel: join(dir, "folder"), initrd, append: "" }, "BAD_IMAGE", /boot kernel .*folder is not a file/],
    ["a command line over 2047 bytes", { kernel, initrd, append: "x".repeat(2048) }, "USAGE", /2048 bytes, more than the 2047 Linux takes/],
    ["a NUL in the command line", { kernel, initrd, append: "quiet\0init=/bin/sh" }, "USAGE", /contains a NUL byte/],
  ];
  for (const [name, boot, code, message] of cases) {
    await t.test(name, async () => {
      await assert.rejects(fastBuild({ image, out, signingKey: key, boot }), (err: unknown) => {
        assert.ok(err instanceof StickvmError, String(err));
        assert.equal(err.code, code);
        assert.match(err.message, message);
        return true;
      });
      assert.equal(await exists(out), false, "nothing was written");
    });
  }

  await t.test("a 2047-byte command line is taken", async (t) => {
    const s = join(await tempDir(t), "stick");
    const built = await fastBuild({ image, out: s, signingKey: key, boot: { kernel, initrd, append: "é".repeat(1023) + "x" } });
    assert.equal(Buffer.byteLength(built.boot?.append ?? ""), 2047);
  });
});

test("the CLI: --boot-kernel and --boot-initrd come together, --boot-append needs them; info shows the boot files", async (t) => {
  const dir = await tempDir(t);
  const key = await adminKey(dir);
  const { path: image } = await writeImage(dir, [{ random: CHUNK }]);
  await writeFile(join(dir, "k"), randomBytes(5000));
  await writeFile(join(dir, "i"), randomBytes(700));
  const out = join(dir, "stick");
  const base = ["build", "--image", image, "--signing-key", key, ...FAST_KDF_ARGS, "--out", out, "--recovery-key-file", join(dir, "rk.txt")];

  for (const [args, message] of [
    [["--boot-kernel", join(dir, "k")], /--boot-kernel was given without --boot-initrd: direct kernel boot needs both/],
    [["--boot-initrd", join(dir, "i"), "--boot-append", "quiet"], /--boot-initrd was given without --boot-kernel/],
    [["--boot-append", "quiet"], /--boot-append was given without --boot-kernel and --boot-initrd/],
  ] as const) {
    const r = makeStick([...base, ...args]);
    assert.equal(r.status, EXIT.usage, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(await exists(out), false);
  }

  const good = makeStick([...base, "--boot-kernel", join(dir, "k"), "--boot-initrd", join(dir, "i"), "--boot-append", "console=ttyS0 quiet"]);
  assert.equal(good.status, 0, good.stderr);
  assert.match(good.stdout, /boot kernel 5000 bytes: 1 chunks \(0 zero, 0 duplicate, 1 stored\)\nboot initrd 700 bytes: 1 chunks .*\nboot command line "console=ttyS0 quiet"/);
  const info = makeStick(["info", "--stick", out, "--json"]);
  assert.equal(info.status, 0, info.stderr);
  const parsed = JSON.parse(info.stdout) as { formatVersion: number; boot?: { kernel: { size: number }; initrd: { size: number }; append: string } };
  assert.equal(parsed.formatVersion, 3);
  assert.deepEqual([parsed.boot?.kernel.size, parsed.boot?.initrd.size, parsed.boot?.append], [5000, 700, "console=ttyS0 quiet"]);
  assert.match(makeStick(["info", "--stick", out]).stdout, /boot +kernel 5000 bytes \(1 chunks\), initrd 700 bytes \(1 chunks\), command line "console=ttyS0 quiet"/);
});
