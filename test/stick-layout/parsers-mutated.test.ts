import assert from "node:assert/strict";
import { randomBytes, randomInt } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { parsePublicKeyFile, parseSecretKeyFile } from "../../stick-layout/admin-key.js";
import { ChunkIndex } from "../../stick-layout/chunk-index.js";
import { indexFileName, manifestFileName, packFileName, STICK_FILES } from "../../stick-layout/format.js";
import { encodeHeaderCopy, headerMacValid, parseHeaderCopy, parseHeaderFile, type StickHeader } from "../../stick-layout/header.js";
import { parseKeySlots } from "../../stick-layout/keyslots.js";
import { parseManifest } from "../../stick-layout/manifest.js";
import { parsePackHeader, parseRecord } from "../../stick-layout/pack.js";
import { parseRecoveryKey } from "../../stick-layout/recovery-key.js";
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

test("a version-2 header (with a user template digest) round-trips, and damage to it is refused", () => {
  const macKey = randomBytes(32);
  const header: StickHeader = {
    formatVersion: 2,
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
    userTemplateDigest: randomBytes(32),
  };
  const copy = encodeHeaderCopy(header, macKey);
  const parsed = parseHeaderCopy(copy);
  assert.deepEqual(parsed.header, header);
  assert.ok(headerMacValid(parsed, macKey));
  assert.throws(() => encodeHeaderCopy({ ...header, formatVersion: 1 }, macKey), /cannot name a user template/);
  fuzz("version-2 header copy", copy, parseHeaderCopy);
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
