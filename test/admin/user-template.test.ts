import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { cp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { ChunkIndex } from "../../stick-layout/chunk-index.js";
import { indexFileName, packFileName, STICK_FILES } from "../../stick-layout/format.js";
import { parseHeaderFile } from "../../stick-layout/header.js";
import { manifestEntry, parseManifest } from "../../stick-layout/manifest.js";
import { stickInfo } from "../../src/admin/info.js";
import { formatVerifyReport, verifyStick } from "../../src/admin/verify.js";
import { openStick } from "../../src/chunkstore/open-stick.js";
import { EXIT } from "../../src/cli/exit-codes.js";
import { sha256 } from "../../src/crypto/hash.js";
import { StickvmError } from "../../src/errors/errors.js";
import { LayoutError } from "../../src/util/bytes.js";
import { copyOf, exists, flipBit } from "../helpers/files.js";
import { forgeHeaderDigest, refusedWith } from "../helpers/tamper.js";
import { adminKey, FAST_KDF_ARGS, fastBuild, makeStick, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

const CHUNK = 64 * 1024;

/**
 * A template that shares its first two chunks with the base (stored once), then has three
 * chunks of its own, a zero chunk and a partial last chunk of its own.
 */
function templateFor(base: Buffer): Buffer {
  return Buffer.concat([base.subarray(0, 2 * CHUNK), randomBytes(3 * CHUNK), Buffer.alloc(CHUNK), randomBytes(4096)]);
}

test("a user template: built into the same packs, read back, described, verified, tampering refused", async (t) => {
  const dir = await tempDir(t);
  const key = await adminKey(dir);
  const { path: image, bytes: baseBytes } = await writeImage(dir, [{ random: 4 * CHUNK }, { zeros: CHUNK }, { repeat: 0 }]);
  const templateBytes = templateFor(baseBytes);
  const userImage = join(dir, "profile.raw");
  await writeFile(userImage, templateBytes);
  const stick = join(dir, "stick");
  const built = await fastBuild({ image, out: stick, signingKey: key, userImage });

  assert.deepEqual(built.chunks, { total: 9, zero: 1, unique: 4, duplicate: 4 });
  assert.deepEqual(built.userTemplate, { imageBytes: templateBytes.length, chunks: { total: 7, zero: 1, unique: 4, duplicate: 2 } });
  assert.equal(built.userDiskSize, templateBytes.length);

  const index = ChunkIndex.parse(await readFile(join(stick, indexFileName(1))));
  const templateManifest = parseManifest(await readFile(join(stick, STICK_FILES.userTemplate))).manifest;
  assert.equal(index.count, 8, "one index holds the base's and the template's chunks, each once");
  assert.equal(templateManifest.baseVersion, 0);

  await t.test("the header is format version 2 and pins the template manifest", async () => {
    const copies = parseHeaderFile(await readFile(join(stick, STICK_FILES.header)));
    for (const c of copies) {
      assert.ok(!(c instanceof LayoutError));
      assert.equal(c.header.formatVersion, 2);
      assert.equal(c.header.userDiskSize, templateBytes.length);
      assert.deepEqual(c.header.userTemplateDigest, sha256(await readFile(join(stick, STICK_FILES.userTemplate))));
    }
  });

  await t.test("openStick reads the base and the template byte for byte", async () => {
    const s = await openStick(stick, { passphrase: PASSPHRASE });
    try {
      assert.ok(s.userTemplate);
      assert.ok((await s.userTemplate.read(0, templateBytes.length)).equals(templateBytes));
      assert.ok((await s.base.read(0, baseBytes.length)).equals(baseBytes));
    } finally {
      await s.close();
    }
  });

  await t.test("info describes the template", async () => {
    const info = await stickInfo(stick);
    assert.equal(info.formatVersion, 2);
    assert.deepEqual(info.userTemplate, { diskSize: templateBytes.length, chunks: { total: 7, zero: 1, referenced: 6 } });
    assert.equal(info.base.chunks.unique, 8);
    assert.equal(info.base.dedupRatio, (8 + 6) / 8);
  });

  await t.test("verify checks the template's chunks too", async () => {
    const r = await verifyStick(stick, { passphrase: PASSPHRASE });
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.chunksChecked, 8);
    assert.ok(r.checks.some((c) => c.check === "user template manifest" && c.ok));
  });

  await t.test("verify names a damaged chunk of the template", async (t) => {
    const s = await copyOf(t, stick);
    const own = manifestEntry(templateManifest, 3); // one of the template's own chunks
    const loc = index.find(own);
    assert.ok(loc);
    await flipBit(join(s, packFileName(loc.pack)), loc.offset + 100);
    const r = await verifyStick(s, { passphrase: PASSPHRASE });
    assert.equal(r.ok, false);
    assert.deepEqual(
      r.badChunks.map((b) => [b.id, b.pack, b.offset, b.usedBy]),
      [[own.toString("hex"), packFileName(loc.pack), loc.offset, ["user template"]]],
    );
    assert.match(formatVerifyReport(r), new RegExp(`bad chunk ${own.toString("hex")} \\(used by the user template\\)`));
  });

  await t.test("verify says a shared chunk is used by both disks", async (t) => {
    const s = await copyOf(t, stick);
    const shared = manifestEntry(templateManifest, 0);
    const loc = index.find(shared);
    assert.ok(loc);
    await flipBit(join(s, packFileName(loc.pack)), loc.offset + 100);
    const r = await verifyStick(s, { passphrase: PASSPHRASE });
    assert.deepEqual(r.badChunks.map((b) => b.usedBy), [["base", "user template"]]);
  });

  await t.test("an edited template manifest is refused", async (t) => {
    const s = await copyOf(t, stick);
    await flipBit(join(s, STICK_FILES.userTemplate), 100);
    await refusedWith(s, /base\/user-template\.bin is not signed by the admin key pinned/);
    const r = await verifyStick(s, { passphrase: PASSPHRASE });
    assert.equal(r.ok, false);
    assert.match(r.checks.find((c) => c.check === "user template manifest")?.problem ?? "", /not signed by the admin key pinned/);
    assert.equal(r.chunksChecked, 0, "no chunk check without a trusted template manifest");
  });

  await t.test("another template signed by the same admin is refused", async (t) => {
    const otherDir = await tempDir(t);
    const otherImage = join(otherDir, "other.raw");
    await writeFile(otherImage, templateFor(baseBytes));
    const other = join(otherDir, "stick");
    await fastBuild({ image, out: other, signingKey: key, userImage: otherImage });
    const s = await copyOf(t, stick);
    await cp(join(other, STICK_FILES.userTemplate), join(s, STICK_FILES.userTemplate));
    await refusedWith(s, /user-template\.bin is signed but is not the manifest this stick's header names/);
  });

  await t.test("the base manifest cannot stand in for the template", async (t) => {
    const s = await copyOf(t, stick);
    await cp(join(s, "base", "manifest-00000001.bin"), join(s, STICK_FILES.userTemplate));
    await refusedWith(s, /user-template\.bin is signed but is not the manifest/);
  });

  await t.test("a removed template manifest is damage, not a stick without a template", async (t) => {
    const s = await copyOf(t, stick);
    await rm(join(s, STICK_FILES.userTemplate));
    await refusedWith(s, /base\/user-template\.bin is missing/);
  });

  await t.test("the template digest in the header is under the MAC", async (t) => {
    const s = await copyOf(t, stick);
    await forgeHeaderDigest(s, 240, 272);
    await refusedWith(s, /fails its MAC/);
  });
});

test("a stick without a user template stays format version 1 with its user disk over zeros", async (t) => {
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: 2 * CHUNK }]);
  const stick = join(dir, "stick");
  const built = await fastBuild({ image, out: stick, signingKey: await adminKey(dir), userSize: 3 * CHUNK });
  assert.equal(built.userTemplate, undefined);
  assert.equal(built.userDiskSize, 3 * CHUNK);
  assert.equal((await readFile(join(stick, STICK_FILES.header))).readUInt16LE(8), 1);
  assert.equal(await exists(join(stick, STICK_FILES.userTemplate)), false);
  const s = await openStick(stick, { passphrase: PASSPHRASE });
  assert.equal(s.userTemplate, undefined);
  await s.close();
  assert.equal((await stickInfo(stick)).userTemplate, undefined);
});

test("user image usage errors", async (t) => {
  const dir = await tempDir(t);
  const key = await adminKey(dir);
  const { path: image } = await writeImage(dir, [{ random: CHUNK }]);
  const { path: userImage } = await writeImage(dir, [{ random: 2 * CHUNK }], "profile.raw");
  const out = join(dir, "stick");

  const refused = async (run: Promise<unknown>, code: StickvmError["code"], message: RegExp): Promise<void> => {
    await assert.rejects(run, (err: unknown) => {
      assert.ok(err instanceof StickvmError, String(err));
      assert.equal(err.code, code);
      assert.match(err.message, message);
      return true;
    });
    assert.equal(await exists(out), false, "nothing was written");
  };

  await t.test("--user-size that differs from the template's size", async () => {
    await refused(fastBuild({ image, out, signingKey: key, userImage, userSize: 4 * CHUNK }), "USAGE", /--user-size 262144 differs from the user image's size \(131072 bytes\)/);
  });

  await t.test("a user image format without a user image", async () => {
    await refused(fastBuild({ image, out, signingKey: key, userImageFormat: "qcow2" }), "USAGE", /without a user image/);
  });

  await t.test("a missing user image", async () => {
    await refused(fastBuild({ image, out, signingKey: key, userImage: join(dir, "nope.raw") }), "BAD_IMAGE", /does not exist/);
  });

  await t.test("a user image whose size is not a multiple of 512", async () => {
    const odd = join(dir, "odd.raw");
    await writeFile(odd, randomBytes(1000));
    await refused(fastBuild({ image, out, signingKey: key, userImage: odd }), "BAD_IMAGE", /not a multiple of 512/);
  });

  await t.test("the CLI: exit code 2 for a differing --user-size; an equal one is accepted", () => {
    const base = ["build", "--image", image, "--signing-key", key, ...FAST_KDF_ARGS, "--user-image", userImage];
    const bad = makeStick([...base, "--out", out, "--user-size", "1M"]);
    assert.equal(bad.status, EXIT.usage, bad.stderr);
    assert.match(bad.stderr, /differs from the user image's size/);
    const good = makeStick([...base, "--out", out, "--user-size", "128K", "--recovery-key-file", join(dir, "rk.txt")]);
    assert.equal(good.status, 0, good.stderr);
    assert.match(good.stdout, /user template 131072 bytes: 2 chunks \(0 zero, 0 duplicate, 2 stored\)/);
    const info = makeStick(["info", "--stick", out]);
    assert.match(info.stdout, /user disk +0\.1 MiB, starts as the user template \(2 chunks: 0 zero, 2 with data\)/);
  });
});
