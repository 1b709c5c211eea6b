import assert from "node:assert/strict";
import { mkdir, readFile, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { STICK_STATE_FILES } from "../../stick-layout/stick-state.js";
import { stickPolicy } from "../../src/policy/policy-schema.js";
import { loadStickState, saveStickState, stickStateAccess } from "../../src/policy/stick-state-file.js";
import { enforceStartPolicy, noteUpdateContact } from "../../src/policy/stick-state-updates.js";
import { flipBit } from "../helpers/files.js";
import { tempDir } from "../helpers/sticks.js";

const DAY = 24 * 60 * 60 * 1000;
const NOW = Date.UTC(2027, 2, 1);
const stickId = Buffer.alloc(16, 3);
const userKey = Buffer.alloc(32, 9);

test("stick state: two slots in turn; the newest that opens wins; a torn, edited, foreign or misplaced slot is reported and the other kept", async (t) => {
  const dir = await tempDir(t);
  const a = stickStateAccess(dir, userKey, stickId);
  assert.deepEqual(await loadStickState(a), { state: undefined, problems: [] });
  const first = await saveStickState(a, undefined, { lastSeenMs: NOW, lastContactMs: 0, revoked: false });
  assert.equal(first.sequence, 1);
  const second = await saveStickState(a, first, { lastSeenMs: NOW + DAY, lastContactMs: NOW, revoked: false });
  assert.deepEqual((await loadStickState(a)).state, second);
  const slot0 = join(dir, STICK_STATE_FILES[0]);
  const slot1 = join(dir, STICK_STATE_FILES[1]);
  const good0 = await readFile(slot0);

  // a write of sequence 3 cut short (slot 1) leaves sequence 2
  await saveStickState(a, second, { lastSeenMs: NOW + 2 * DAY, lastContactMs: NOW, revoked: true });
  await truncate(slot1, 50);
  let loaded = await loadStickState(a);
  assert.deepEqual(loaded.state, second);
  assert.match(loaded.problems.join(), /slot 1 is 50 bytes.*cut short/);

  // an edited byte of the sealed body
  await saveStickState(a, second, { lastSeenMs: NOW + 2 * DAY, lastContactMs: NOW, revoked: true });
  await flipBit(slot1, 60);
  loaded = await loadStickState(a);
  assert.deepEqual(loaded.state, second);
  assert.match(loaded.problems.join(), /does not open with this stick's key/);

  // slot 0's file copied over slot 1, another stick's key, another stick's id
  await writeFile(slot1, good0);
  assert.match((await loadStickState(a)).problems.join(), /holds the other slot's state/);
  assert.match((await loadStickState(stickStateAccess(dir, Buffer.alloc(32, 1), stickId))).problems.join(), /does not open/);
  assert.match((await loadStickState(stickStateAccess(dir, userKey, Buffer.alloc(16, 4)))).problems.join(), /belongs to another stick/);
});

test("start policy: with time limits a start records the last time seen; without, nothing is written; a revoked stick is refused", async (t) => {
  const dir = await tempDir(t);
  const a = stickStateAccess(dir, userKey, stickId);
  const warnings: string[] = [];
  const o = { access: a, baseCreatedMs: NOW - DAY, warn: (m: string) => warnings.push(m) };
  await enforceStartPolicy({ ...o, policy: stickPolicy(undefined), nowMs: NOW });
  assert.equal((await loadStickState(a)).state, undefined, "no time limits: nothing written");

  const limited = stickPolicy(Buffer.from(JSON.stringify({ expires: "2028-01-01" })));
  await enforceStartPolicy({ ...o, policy: limited, nowMs: NOW });
  assert.equal((await loadStickState(a)).state?.lastSeenMs, NOW);
  // a later start moves it on; an earlier one within the tolerance does not move it back
  await enforceStartPolicy({ ...o, policy: limited, nowMs: NOW + 3 * DAY });
  await enforceStartPolicy({ ...o, policy: limited, nowMs: NOW + 2 * DAY + 1 });
  assert.equal((await loadStickState(a)).state?.lastSeenMs, NOW + 3 * DAY);
  // the clock turned back further: refused, nothing written
  await assert.rejects(enforceStartPolicy({ ...o, policy: limited, nowMs: NOW }), { code: "POLICY_REFUSED", message: /clock was turned back/ });
  assert.equal((await loadStickState(a)).state?.sequence, 2);

  // the update code's contact: the offline days start again; a list naming the stick revokes it for good
  const offline = stickPolicy(Buffer.from(JSON.stringify({ maxOfflineDays: 5, updateUrl: "https://u.example/" })));
  await assert.rejects(enforceStartPolicy({ ...o, policy: offline, nowMs: NOW + 6 * DAY }), { code: "POLICY_REFUSED", message: /maxOfflineDays/ });
  await noteUpdateContact(a, { atMs: NOW + 4 * DAY, revokedIds: ["ffffffffffffffffffffffffffffffff"] });
  await enforceStartPolicy({ ...o, policy: offline, nowMs: NOW + 6 * DAY });
  const contacted = (await loadStickState(a)).state;
  assert.equal(contacted?.lastContactMs, NOW + 4 * DAY);
  assert.equal(contacted.revoked, false);
  await noteUpdateContact(a, { atMs: NOW + 7 * DAY, revokedIds: [stickId.toString("hex")] });
  await assert.rejects(enforceStartPolicy({ ...o, policy: stickPolicy(undefined), nowMs: NOW + 7 * DAY }), { code: "REVOKED" });
  // a later contact whose list no longer names it does not bring it back
  await noteUpdateContact(a, { atMs: NOW + 8 * DAY, revokedIds: [] });
  await assert.rejects(enforceStartPolicy({ ...o, policy: stickPolicy(undefined), nowMs: NOW + 8 * DAY }), { code: "REVOKED" });
  assert.deepEqual(warnings, []);
});

test("start policy: a stick that cannot be written starts all the same, with a warning", async (t) => {
  const dir = await tempDir(t);
  // a folder where the first slot's file goes: no write can make it a file (not even root's)
  await mkdir(join(dir, STICK_STATE_FILES[1]));
  const warnings: string[] = [];
  await enforceStartPolicy({
    access: stickStateAccess(dir, userKey, stickId),
    policy: stickPolicy(Buffer.from(JSON.stringify({ expires: "2028-01-01" }))),
    baseCreatedMs: NOW,
    nowMs: NOW,
    warn: (m) => warnings.push(m),
  });
  assert.match(warnings.join(), /last time seen could not be recorded/);
});
