import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { parsePublicKeyFile } from "../../stick-layout/admin-key.js";
import { parseRecoveryKey } from "../../stick-layout/recovery-key.js";
import { stickInfo } from "../../src/admin/info.js";
import { verifyStick } from "../../src/admin/verify.js";
import { openStick } from "../../src/chunkstore/open-stick.js";
import { sha256 } from "../../src/crypto/hash.js";
import { REPO_ROOT } from "../helpers/sticks.js";

const FIXTURE = join(REPO_ROOT, "test", "fixtures", "stick-v1");
const STICK = join(FIXTURE, "stick");
const IMAGE_SHA256 = "c3d20f434799eacfeb5be33b9a7e3ebdb9917ce88c6781e82c892e461264b219";

test("the committed version-1 fixture stick still opens, reads back and verifies", async () => {
  const passphrase = (await readFile(join(FIXTURE, "passphrase.txt"), "utf8")).trimEnd();
  const stick = await openStick(STICK, { passphrase });
  try {
    assert.equal(stick.header.formatVersion, 1);
    assert.equal(stick.boot, undefined, "a version-1 stick boots from its disk");
    assert.equal(stick.manifest.chunkSize, 16 * 1024);
    assert.equal(stick.base.size, 99_328);
    assert.equal(sha256(await stick.base.read(0, stick.base.size)).toString("hex"), IMAGE_SHA256);
    assert.ok(stick.header.adminPublicKey.equals(parsePublicKeyFile(await readFile(join(FIXTURE, "admin.pub"), "utf8"))));
  } finally {
    await stick.close();
  }

  const recoveryKey = parseRecoveryKey(await readFile(join(FIXTURE, "recovery-key.txt"), "utf8"));
  assert.ok(recoveryKey);
  const report = await verifyStick(STICK, { recoveryKey });
  assert.equal(report.ok, true, JSON.stringify(report.checks));
  assert.equal(report.chunksChecked, 4);

  const info = await stickInfo(STICK);
  assert.deepEqual(info.base.chunks, { total: 7, zero: 2, referenced: 5, unique: 4 });
  assert.equal(info.policy, true);
  assert.equal(info.boot, undefined);
  assert.deepEqual(
    info.keyslots.map((k) => k.kind),
    ["passphrase", "recovery-key"],
  );
});
