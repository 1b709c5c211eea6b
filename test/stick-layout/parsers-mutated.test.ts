import assert from "node:assert/strict";
import { randomBytes, randomInt } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { parsePublicKeyFile, parseSecretKeyFile } from "../../stick-layout/admin-key.js";
import { ChunkIndex } from "../../stick-layout/chunk-index.js";
import { indexFileName, manifestFileName, packFileName, STICK_FILES } from "../../stick-layout/format.js";
import { encodeSignedBootManifest, parseBootManifest, type BootManifest } from "../../stick-layout/boot-manifest.js";
import { bootProfileKey, encodeBootProfile, parseBootProfile } from "../../stick-layout/boot-profile.js";
import { encodeHeaderCopy, headerMacValid, NewerFormatError, parseHeaderCopy, parseHeaderFile, type StickHeader } from "../../stick-layout/header.js";
import { parseKeySlots } from "../../stick-layout/keyslots.js";
import { parseManifest } from "../../stick-layout/manifest.js";
import { parsePackHeader, parseRecord } from "../../stick-layout/pack.js";
import { parseRecoveryKey } from "../../stick-layout/recovery-key.js";
import { sha256 } from "../../src/crypto/hash.js";
import { generateSigningKeyPair } from "../../src/crypto/signing.js";
import { LayoutError } from "../../src/util/bytes.js";
import { REPO_ROOT } from "../helpers/sticks.js";

const STICK = join(REPO_ROOT, "test", "fixtures", "stick-v1", "stick");
const CASES_PER_PARSER = 400;

/** Flips, overwrites, truncates, extends or splices bytes: the usual damage of a bad file. */
function mutate(input: Buffer): Buffer {
  const b = Buffer.from(input);
  switch (randomInt(5)) {
    case 0:
      for (let i = randomInt(1, 4); i > 0; i--) {
        const at = randomInt(b.length);
        b[at] = (b[at] ?? 0) ^ (1 << randomInt(8));
      }
      return b;
    case 1: {
      const at = randomInt(b.length);
      randomBytes(Math.min(8, b.length - at)).copy(b, at);
      return b;
    }
    case 2:
      return b.subarray(0, randomInt(b.length));
    case 3:
      return Buffer.concat([b, randomBytes(randomInt(1, 64))]);
    default: {
      const at = randomInt(b.length);
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + randomInt(1, 16)))]);
    }
  }
}

/** Each mutated input either parses or throws a LayoutError: never another exception. */
function fuzz(name: string, original: Buffer, parse: (b: Buffer) => unknown, allowed: (err: unknown) => boolean = (e) => e instanceof LayoutError): void {
  let rejected = 0;
  for (let i = 0; i < CASES_PER_PARSER; i++) {
    const input = mutate(original);
    try {
      parse(input);
    } catch (err) {
      assert.ok(allowed(err), `${name}: input ${input.toString("hex").slice(0, 64)}… threw ${String(err)}`);
      rejected += 1;
    }
  }
  assert.ok(rejected > CASES_PER_PARSER / 2, `${name}: only ${rejected} of ${CASES_PER_PARSER} mutations were refused`);
}

test("stick file parsers refuse damaged input with a layout error and never crash", async () => {
  const file = (name: string) => readFile(join(STICK, name));
  const header = await file(STICK_FILES.header);
  fuzz("header copy", header.subarray(0, 4096), parseHeaderCopy);
  fuzz("header file", header, (b) => {
    const copies = parseHeaderFile(b);
    if (copies.every((c) => c instanceof LayoutError)) throw copies[0] ?? new LayoutError("none");
  });
  fuzz("key slots", await file(STICK_FILES.keyslots), parseKeySlots);
  fuzz("manifest", await file(manifestFileName(1)), parseManifest);
  fuzz("chunk index", await file(indexFileName(1)), (b) => ChunkIndex.parse(b));
  const pack = await file(packFileName(0));
  fuzz("pack header", pack.subarray(0, 16), parsePackHeader);
  const index = ChunkIndex.parse(await file(indexFileName(1)));
  const first = index.entryAt(0);
  fuzz("pack record", pack.subarray(first.offset, first.offset + first.length), parseRecord);
});

test("the boot profile parser refuses damaged slots with a layout error and never crashes", () => {
  const stickId = randomBytes(16);
  const key = bootProfileKey(randomBytes(32), stickId);
  const bytes = encodeBootProfile(key, stickId, { sequence: 4, baseVersion: 1, recordedMs: Date.now(), durationMs: 1000, ids: randomBytes(32 * 20) });
  fuzz("boot profile", bytes, (b) => parseBootProfile(key, stickId, 0, b));
});

function v1Header(): StickHeader {
  return {
    formatVersion: 1,
    sequence: 1,
    stickId: randomBytes(16),
    lineageId: randomBytes(16),
    adminPublicKey: randomBytes(32),
    policyDigest: Buffer.alloc(32),
    baseVersion: 1,
    userDiskSize: 512 * 1000,
    localDiskSize: 1024 * 1024,
    createdMs: Date.now(),
    manifestDigest: randomBytes(32),
  };
}

function v2Header(): StickHeader {
  return { ...v1Header(), formatVersion: 2, userTemplateDigest: randomBytes(32) };
}

test("a version-2 header (with a user template digest) round-trips, and damage to it is refused", () => {
  const macKey = randomBytes(32);
  const header = v2Header();
  const copy = encodeHeaderCopy(header, macKey);
  const parsed = parseHeaderCopy(copy);
  assert.deepEqual(parsed.header, header);
  assert.ok(headerMacValid(parsed, macKey));
  assert.throws(() => encodeHeaderCopy({ ...header, formatVersion: 1 }, macKey), /is format version 2, not 1/);
  fuzz("version-2 header copy", copy, parseHeaderCopy);
});

/** Sets a copy's format version and makes both its checksums right again, as a newer writer would. */
function withVersion(copy: Buffer, version: number, extensionEnd: number): Buffer {
  const b = Buffer.from(copy);
  b.writeUInt16LE(version, 8);
  sha256(b.subarray(0, 208)).copy(b, 208);
  sha256(b.subarray(0, extensionEnd)).copy(b, extensionEnd);
  return b;
}

test("a version-3 header (boot digest, with or without a template) round-trips; its MAC covers both digests; damage is refused", () => {
  const macKey = randomBytes(32);
  const noTemplate = v1Header();
  const headers: StickHeader[] = [
    { ...noTemplate, formatVersion: 3, bootDigest: randomBytes(32) },
    { ...noTemplate, formatVersion: 3, userTemplateDigest: randomBytes(32), bootDigest: randomBytes(32) },
  ];
  for (const header of headers) {
    const copy = encodeHeaderCopy(header, macKey);
    assert.ok(copy.subarray(336).every((b) => b === 0), "padding from 336");
    assert.ok(copy.subarray(240, 272).equals(header.userTemplateDigest ?? Buffer.alloc(32)), "template digest at 240, zeros for none");
    const parsed = parseHeaderCopy(copy);
    assert.deepEqual(parsed.header, header);
    assert.ok(headerMacValid(parsed, macKey));
    for (const at of [240, 272]) {
      const forged = Buffer.from(copy);
      forged[at] = (forged[at] ?? 0) ^ 1;
      sha256(forged.subarray(0, 304)).copy(forged, 304);
      assert.ok(!headerMacValid(parseHeaderCopy(forged), macKey), `the MAC covers byte ${at}`);
    }
    assert.throws(() => parseHeaderCopy(Buffer.concat([copy.subarray(0, 304), Buffer.alloc(4096 - 304)])), /checksum mismatch \(user template and boot digests\)/);
    fuzz("version-3 header copy", copy, parseHeaderCopy);
  }
  assert.throws(() => encodeHeaderCopy({ ...noTemplate, formatVersion: 2, bootDigest: randomBytes(32) }, macKey), /is format version 3, not 2/);
  const zeroBoot = Buffer.from(encodeHeaderCopy({ ...noTemplate, formatVersion: 3, bootDigest: randomBytes(32) }, macKey));
  zeroBoot.fill(0, 272, 304);
  sha256(zeroBoot.subarray(0, 304)).copy(zeroBoot, 304);
  assert.throws(() => parseHeaderCopy(zeroBoot), /a version-3 header must name boot files/);
});

test("a header of a later format version is a newer stickvm's, and a v2 header relabelled 3 is damage", () => {
  const copy = encodeHeaderCopy(v2Header(), randomBytes(32));
  assert.throws(() => parseHeaderCopy(withVersion(copy, 4, 272)), (err: unknown) => err instanceof NewerFormatError && /format version is 4; this stickvm reads versions 1 to 3/.test(err.message));
  assert.throws(() => parseHeaderCopy(withVersion(copy, 3, 272)), /checksum mismatch \(user template and boot digests\)/);
});

function bootManifest(signer: Buffer): BootManifest {
  return {
    baseVersion: 1,
    lineageId: randomBytes(16),
    chunkSize: 4096,
    createdMs: Date.now(),
    signerPublicKey: signer,
    kernel: { size: 4096 + 77, entries: randomBytes(64) },
    initrd: { size: 100, entries: randomBytes(32) },
    append: "console=ttyS0 ü",
  };
}

test("the boot manifest round-trips, and damage to it is refused", () => {
  const key = generateSigningKeyPair();
  const m = bootManifest(key.publicKey);
  const file = encodeSignedBootManifest(m, key);
  assert.equal(file.length, 96 + 3 * 32 + Buffer.byteLength(m.append) + 64);
  assert.deepEqual(parseBootManifest(file).manifest, m);
  const resized = (at: number, value: number): Buffer => {
    const b = Buffer.from(file);
    b.writeUInt32LE(value, at);
    return b;
  };
  assert.throws(() => parseBootManifest(resized(36, 2048)), /a 2048-byte kernel command line, more than the 2047/);
  assert.throws(() => parseBootManifest(resized(40, 0)), /the kernel is empty/);
  assert.throws(() => parseBootManifest(resized(48, 8193)), /is \d+ bytes, expected \d+/);
  const badAppend = Buffer.from(file);
  badAppend[file.length - 65] = 0xff;
  assert.throws(() => parseBootManifest(badAppend), /not valid UTF-8/);
  fuzz("boot manifest", file, parseBootManifest);
});

test("key file and recovery key parsers refuse damaged text", async () => {
  const pub = await readFile(join(REPO_ROOT, "test", "fixtures", "stick-v1", "admin.pub"));
  fuzz("public key file", pub, (b) => parsePublicKeyFile(b.toString("utf8")), (e) => e instanceof Error);
  const secretText = `stickvm admin signing key v1\nseed: ${randomBytes(32).toString("base64")}\npublic: ${randomBytes(32).toString("base64")}\n`;
  assert.throws(() => parseSecretKeyFile(secretText), /does not belong to its seed/);
  fuzz("secret key file", Buffer.from(secretText), (b) => parseSecretKeyFile(b.toString("utf8")), (e) => e instanceof Error);
  const rk = await readFile(join(REPO_ROOT, "test", "fixtures", "stick-v1", "recovery-key.txt"));
  let accepted = 0;
  for (let i = 0; i < CASES_PER_PARSER; i++) if (parseRecoveryKey(mutate(rk).toString("latin1")) !== undefined) accepted += 1;
  // truncating only the trailing newline, or an appended space, still leaves a valid key; real typos never pass
  assert.ok(accepted < CASES_PER_PARSER / 4, `${accepted} mutated recovery keys were accepted`);
});
