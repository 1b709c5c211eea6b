import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { BOOT_PROFILE_MAGIC, bootProfileKey, encodeBootProfile, MAX_PROFILE_CHUNKS, parseBootProfile, type BootProfile } from "../../stick-layout/boot-profile.js";

const stickId = randomBytes(16);
const key = bootProfileKey(randomBytes(32), stickId);

function profile(sequence: number, chunks = 3): BootProfile {
  return { sequence, baseVersion: 2, recordedMs: 1_700_000_000_000, durationMs: 42_000, ids: randomBytes(32 * chunks) };
}

test("a boot profile round-trips, in the slot its sequence names, with the head FORMAT.md §25 gives", () => {
  for (const sequence of [1, 2, 7, 2 ** 32 - 1]) {
    const p = profile(sequence);
    const bytes = encodeBootProfile(key, stickId, p);
    const slot = sequence % 2;
    assert.ok(bytes.subarray(0, 8).equals(BOOT_PROFILE_MAGIC));
    assert.equal(bytes.readUInt16LE(8), 1, "version at 8");
    assert.equal(bytes[10], slot, "slot at 10");
    assert.equal(bytes.readUInt32LE(12), sequence, "sequence at 12");
    assert.ok(bytes.subarray(16, 32).equals(stickId), "stick id at 16");
    assert.equal(bytes.readUInt32LE(32), bytes.length - 40, "sealed length at 32");
    assert.equal(bytes.length, 40 + 12 + 24 + 96 + 16);
    assert.deepEqual(parseBootProfile(key, stickId, slot, bytes), p);
  }
});

test("an empty profile and a full one encode; one id more is refused", () => {
  assert.equal(parseBootProfile(key, stickId, 1, encodeBootProfile(key, stickId, profile(1, 0))).ids.length, 0);
  const full = profile(2, MAX_PROFILE_CHUNKS);
  assert.equal(parseBootProfile(key, stickId, 0, encodeBootProfile(key, stickId, full)).ids.length, 32 * MAX_PROFILE_CHUNKS);
  assert.throws(() => encodeBootProfile(key, stickId, profile(1, MAX_PROFILE_CHUNKS + 1)), /at most 65536/);
  assert.throws(() => encodeBootProfile(key, stickId, { ...profile(1), ids: randomBytes(33) }), /whole ids/);
});

test("a profile of another stick, under another key, in the other slot's file, or cut short is refused by name", () => {
  const bytes = encodeBootProfile(key, stickId, profile(3));
  assert.throws(() => parseBootProfile(key, randomBytes(16), 1, bytes), /belongs to another stick/);
  assert.throws(() => parseBootProfile(bootProfileKey(randomBytes(32), stickId), stickId, 1, bytes), /does not open with this stick's key/);
  assert.throws(() => parseBootProfile(key, stickId, 0, bytes), /holds the other slot's profile/);
  assert.throws(() => parseBootProfile(key, stickId, 1, bytes.subarray(0, bytes.length - 1)), /a write was cut short/);
  assert.throws(() => parseBootProfile(key, stickId, 1, bytes.subarray(0, 20)), /truncated/);
  // a sequence that does not match its slot, even with the head's slot byte made to match
  const moved = Buffer.from(bytes);
  moved[10] = 0;
  assert.throws(() => parseBootProfile(key, stickId, 0, moved), /belongs in the other slot/);
  // the head is authenticated: a changed sequence does not open
  const bumped = Buffer.from(bytes);
  bumped.writeUInt32LE(5, 12);
  assert.throws(() => parseBootProfile(key, stickId, 1, bumped), /does not open/);
});
