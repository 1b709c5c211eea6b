import assert from "node:assert/strict";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { HEADER_COPY_BYTES } from "../../stick-layout/header.js";
import { manifestFileName, packFileName, releaseFileName } from "../../stick-layout/format.js";
import { verifyStick } from "../../src/admin/verify.js";
import { openStick } from "../../src/chunkstore/open-stick.js";
import { StickvmError } from "../../src/errors/errors.js";
import { applyStagedUpdate, type ApplyStep } from "../../src/update/apply.js";
import type { StageStep } from "../../src/update/stage.js";
import { exists, flipBit } from "../helpers/files.js";
import { adminKey, fastBuild, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";
import { baseOf, changedImage, CHUNK, openApplying, snapshot, stage, userLayerDigest } from "./update-helpers.js";

async function twoVersions(t: Parameters<typeof tempDir>[0], policy?: object): Promise<{ dir: string; key: string; stick: string; v1: Buffer; v2: Buffer }> {
  const dir = await tempDir(t);
  const key = await adminKey(dir);
  const { path, bytes: v1 } = await writeImage(dir, [{ random: 8 * CHUNK }, { zeros: CHUNK }, { random: 7 * CHUNK }]);
  const stick = join(dir, "stick");
  let policyFile: string | undefined;
  if (policy) {
    policyFile = join(dir, "policy.json");
    await writeFile(policyFile, JSON.stringify(policy));
  }
  await fastBuild({ image: path, out: stick, signingKey: key, ...(policyFile ? { policy: policyFile } : {}) });
  return { dir, key, stick, v1, v2: changedImage(v1, [2, 3, 12]) };
}

test("make-stick update stages only the chunks the stick lacks; the next start applies it, keeps the user layer and reclaims the old base", async (t) => {
  const { dir, key, stick, v1, v2 } = await twoVersions(t);
  const user = await userLayerDigest(stick);
  const staged = await stage(stick, dir, v2, key);
  assert.equal(staged.version, 2);
  assert.equal(staged.chunks.unique, 3, "three chunks changed, so three are new");
  assert.ok(staged.bytesAdded < 4 * CHUNK, `${staged.bytesAdded} bytes added for three new chunks`);
  // staged, not applied: a reader that does not apply sees version 1
  assert.deepEqual(await baseOf(stick, false), { version: 1, bytes: v1, warnings: [] });
  const applied = await openApplying(stick);
  try {
    assert.equal(applied.stick.header.baseVersion, 2);
    assert.ok(applied.stick.header.sequence > 1);
    assert.ok((await applied.stick.base.read(0, v2.length)).equals(v2));
    assert.ok(applied.statuses.some((s) => s.includes("applied: base version 1 → 2")), applied.statuses.join("\n"));
  } finally {
    await applied.stick.close();
  }
  assert.equal(await userLayerDigest(stick), user, "the user layer is untouched");
  assert.equal(await exists(join(stick, manifestFileName(1))), false, "the old manifest is reclaimed");
  assert.equal(await exists(join(stick, releaseFileName(2))), true, "the applied release record stays with its version");
  const report = await verifyStick(stick, { passphrase: PASSPHRASE });
  assert.ok(report.ok, JSON.stringify(report.checks));
  // a second update on top: the old pack holds live chunks and stays; the first update's pack, fully replaced, goes
  const v3 = changedImage(v2, [2, 3, 12]);
  await stage(stick, dir, v3, key);
  assert.deepEqual((await baseOf(stick, true)).version, 3);
  assert.ok((await baseOf(stick, false)).bytes.equals(v3));
  assert.deepEqual((await readdir(join(stick, "chunks"))).sort(), ["index-00000003.bin", "pack-00000000.svp", "pack-00000002.svp"]);
  assert.ok((await verifyStick(stick, { passphrase: PASSPHRASE })).ok);
});

test("interrupting make-stick update at every step leaves the stick on its version; the next update or start clears the leftovers", async (t) => {
  const { dir, key, stick, v1, v2 } = await twoVersions(t);
  const crashes: [StageStep, string][] = [];
  await stage(stick, dir, v2, key, { onStep: async (step) => { crashes.push([step, await snapshot(stick, dir, `stage-${step}`)]); } });
  assert.deepEqual(crashes.map(([s]) => s), ["discarded", "packs", "index", "manifest", "boot", "policy", "release"]);
  // a torn pack: the stage's last pack cut short, no release record: the start removes it
  const torn = await snapshot(crashes.find(([s]) => s === "packs")?.[1] ?? "", dir, "torn-pack");
  const pack = join(torn, packFileName(1));
  await writeFile(pack, (await readFile(pack)).subarray(0, 1000));
  assert.equal((await baseOf(torn, true)).version, 1);
  assert.equal(await exists(pack), false);
  for (const [step, copy] of crashes) {
    const committed = step === "release";
    assert.deepEqual(await baseOf(copy, false), { version: 1, bytes: v1, warnings: [] }, `crash after ${step}: a reader sees version 1`);
    const started = await baseOf(copy, true);
    assert.equal(started.version, committed ? 2 : 1, `crash after ${step}: the launcher's start`);
    assert.ok(started.bytes.equals(committed ? v2 : v1));
    if (!committed) {
      assert.deepEqual((await readdir(join(copy, "chunks"))).sort(), ["index-00000001.bin", "pack-00000000.svp"], `crash after ${step}: leftovers removed at start`);
      await stage(copy, dir, v2, key);
      assert.ok((await baseOf(copy, true)).bytes.equals(v2), `crash after ${step}: a new update applies`);
    }
  }
});

test("interrupting the apply at every step leaves a stick that opens on the old or the new version, and the next start finishes it", async (t) => {
  const { dir, key, stick, v1, v2 } = await twoVersions(t);
  await stage(stick, dir, v2, key);
  const crashes: [ApplyStep, string][] = [];
  const o = await openStick(stick, { passphrase: PASSPHRASE }, {
    applyUpdate: (c) =>
      applyStagedUpdate({ stickDir: c.dir, ...c, onStatus: () => undefined, onWarning: () => undefined, onStep: async (step) => { crashes.push([step, await snapshot(stick, dir, `apply-${step}`)]); } }),
  });
  await o.close();
  assert.deepEqual(crashes.map(([s]) => s), ["header-pair", "policy", "header-first", "header-second", "reclaimed"]);
  // a torn first header write (the commit point): copy 1 half written; copy 0 still names version 1
  const torn = await snapshot(crashes.find(([s]) => s === "policy")?.[1] ?? "", dir, "torn-header");
  const hdr = join(torn, "stick.hdr");
  const file = await readFile(hdr);
  file.fill(0, HEADER_COPY_BYTES + 100, HEADER_COPY_BYTES + 2000);
  await writeFile(hdr, file);
  assert.equal((await baseOf(torn, false)).version, 1, "a torn commit falls back on the other copy");
  assert.equal((await baseOf(torn, true)).version, 2, "and the next start applies the update again");
  for (const [step, copy] of crashes) {
    const committed = step !== "header-pair" && step !== "policy";
    const plain = await baseOf(copy, false);
    assert.equal(plain.version, committed ? 2 : 1, `crash after ${step}: the header in use`);
    assert.ok(plain.bytes.equals(committed ? v2 : v1));
    const started = await baseOf(copy, true);
    assert.equal(started.version, 2, `crash after ${step}: the next start ends on version 2`);
    assert.ok(started.bytes.equals(v2));
    assert.ok((await verifyStick(copy, { passphrase: PASSPHRASE })).ok, `crash after ${step}: verify after the next start`);
  }
});

test("a staged update is refused, and the stick stays on its version, when a pack was tampered with, the record is not the admin's, or the key is another's", async (t) => {
  const { dir, key, stick, v1, v2 } = await twoVersions(t);
  await stage(stick, dir, v2, key);
  const tampered = await snapshot(stick, dir, "tampered");
  await flipBit(join(tampered, packFileName(1)), 200);
  const r = await baseOf(tampered, true);
  assert.equal(r.version, 1);
  assert.ok(r.bytes.equals(v1));
  assert.match(r.warnings.join("\n"), /base version 2 staged on this stick is refused: chunk [0-9a-f]+ at chunks\/pack-00000001\.svp offset \d+ is damaged or tampered.*stays on base version 1/);
  assert.equal(await exists(join(tampered, releaseFileName(2))), false, "the refused release is removed");
  assert.equal(await exists(join(tampered, packFileName(1))), false, "and its pack reclaimed");

  const forged = await snapshot(stick, dir, "forged");
  await flipBit(join(forged, releaseFileName(2)), 80);
  const f = await baseOf(forged, true);
  assert.equal(f.version, 1);
  assert.match(f.warnings.join("\n"), /is not signed by the admin key pinned in this stick's header/);

  const otherKey = await adminKey(join(dir, "other"));
  await assert.rejects(stage(stick, dir, changedImage(v2, [0]), otherKey), (err: StickvmError) => err.code === "BAD_KEY_FILE" && /pins another admin key/.test(err.message));
  await assert.rejects(stage(stick, dir, changedImage(v2, [0]), key, { lineage: "another" }), (err: StickvmError) => err.code === "USAGE" && /lineage/.test(err.message));

  // a replayed release: version 2's record brought back to a stick on version 3 is never applied
  const record = await readFile(join(stick, releaseFileName(2)));
  assert.equal((await baseOf(stick, true)).version, 2);
  await stage(stick, dir, changedImage(v2, [5]), key);
  assert.equal((await baseOf(stick, true)).version, 3);
  await writeFile(join(stick, releaseFileName(2)), record);
  const replay = await baseOf(stick, true);
  assert.equal(replay.version, 3);
  assert.equal(await exists(join(stick, releaseFileName(2))), false, "the replayed record is removed");
});

test("persistent system changes: the update is postponed as often as the policy allows, then applied, discarding them; a new policy comes with it", async (t) => {
  const { dir, key, stick, v2 } = await twoVersions(t, { systemChanges: "persistent", systemChangesSize: "1M", updatePostponeLimit: 2 });
  await rm(join(stick, "system-changes-00000001"), { recursive: true, force: true });
  await mkdir(join(stick, "system-changes-00000001"));
  const newPolicy = join(dir, "policy-2.json");
  await writeFile(newPolicy, JSON.stringify({ systemChanges: "persistent", systemChangesSize: "1M", updatePostponeLimit: 0 }));
  await stage(stick, dir, v2, key, { policy: newPolicy });
  const asked: number[] = [];
  for (const expected of [1, 1]) {
    const o = await openApplying(stick, () => { asked.push(1); return Promise.resolve("postpone"); });
    assert.equal(o.stick.header.baseVersion, expected);
    assert.match(o.statuses.join("\n"), /postponed \(\d of 2\)/);
    await o.stick.close();
  }
  assert.equal(asked.length, 2);
  const last = await openApplying(stick, () => { asked.push(1); return Promise.resolve("postpone"); });
  try {
    assert.equal(asked.length, 2, "past the limit nobody is asked");
    assert.equal(last.stick.header.baseVersion, 2);
    assert.match(last.statuses.join("\n"), /postponed 2 time\(s\), the most the policy allows: applying it now/);
    assert.equal((JSON.parse(last.stick.policyBytes?.toString("utf8") ?? "{}") as { updatePostponeLimit?: number }).updatePostponeLimit, 0, "the new policy is in force");
  } finally {
    await last.stick.close();
  }
  assert.equal(await exists(join(stick, "system-changes-00000001")), false, "the old base's system changes are discarded");
  assert.equal(await exists(join(stick, "policy.json")), false, "the old policy file is reclaimed");
  assert.ok((await verifyStick(stick, { passphrase: PASSPHRASE })).ok);
});
