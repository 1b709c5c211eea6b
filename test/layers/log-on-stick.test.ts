import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { STICK_FILES } from "../../stick-layout/format.js";
import { openStick } from "../../src/chunkstore/open-stick.js";
import { openLogOnStick } from "../../src/layers/log-on-stick.js";
import { ZeroDevice } from "../../src/layers/zero-device.js";
import { adminKey, fastBuild, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

test("build makes the user log; it opens with the stick's user key, keeps writes, and is made again if removed", async (t) => {
  const dir = await tempDir(t);
  const { path } = await writeImage(dir, [{ random: 64 * 1024 }]);
  const out = join(dir, "stick");
  await fastBuild({ image: path, out, signingKey: await adminKey(dir), userSize: 64 * 1024 * 1024 });
  const userDir = join(out, STICK_FILES.userDir);
  assert.ok((await stat(join(userDir, "superblock.bin"))).size === 8192, "build wrote the superblock");
  const stick = await openStick(out, { passphrase: PASSPHRASE });
  t.after(() => stick.close());
  const size = stick.header.userDiskSize;
  assert.equal(size, 64 * 1024 * 1024);

  const data = randomBytes(8192);
  const first = await openLogOnStick(userDir, stick.secrets.userKey, new ZeroDevice(size), size);
  assert.ok((await first.read(0, 4096)).equals(Buffer.alloc(4096)), "a new user disk reads as zeros");
  await first.write(4096, data, { fua: false });
  await first.flush();
  await first.close();
  const again = await openLogOnStick(userDir, stick.secrets.userKey, new ZeroDevice(size), size);
  assert.ok((await again.read(4096, 8192)).equals(data), "the build's log kept the write");
  await again.close();

  await rm(userDir, { recursive: true });
  const fresh = await openLogOnStick(userDir, stick.secrets.userKey, new ZeroDevice(size), size);
  assert.ok((await fresh.read(4096, 8192)).equals(Buffer.alloc(8192)), "a stick without a log gets a new, empty one");
  await fresh.close();
  assert.ok((await readdir(userDir)).includes("superblock.bin"));
});
