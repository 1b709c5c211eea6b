import assert from "node:assert/strict";
import { cp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { ChunkIndex, INDEX_ENTRY_BYTES, INDEX_HEAD_BYTES } from "../../stick-layout/chunk-index.js";
import { indexFileName, manifestFileName, NEWEST_FORMAT_VERSION, packFileName, STICK_FILES } from "../../stick-layout/format.js";
import { HEADER_COPY_BYTES } from "../../stick-layout/header.js";
import { encodeSignedManifest, parseManifest } from "../../stick-layout/manifest.js";
import { verifyStick } from "../../src/admin/verify.js";
import { openStick } from "../../src/chunkstore/open-stick.js";
import { IncompleteStickError, NewerFormatStickError } from "../../src/errors/errors.js";
import { sha256 } from "../../src/crypto/hash.js";
import { generateSigningKeyPair } from "../../src/crypto/signing.js";
import { copyOf, flipBit } from "../helpers/files.js";
import { adminKey, fastBuild, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

const CHUNK = 64 * 1024;

/** One good stick built once; each case tampers with its own copy. */
async function goodStick(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const dir = await tempDir(t);
  const { path } = await writeImage(dir, [{ random: 6 * CHUNK }, { zeros: CHUNK }, { repeat: 0 }]);
  const out = join(dir, "stick");
  await fastBuild({ image: path, out, signingKey: await adminKey(dir) });
  return out;
}

const verify = (stick: string) => verifyStick(stick, { passphrase: PASSPHRASE });

test("verify", async (t) => {
  const stick = await goodStick(t);
  const index = ChunkIndex.parse(await readFile(join(stick, indexFileName(1))));
  const entries = [...index.entries()].sort((a, b) => a.offset - b.offset);
  const [first, second] = entries;
  assert.ok(first && second);

  await t.test("passes a good stick and checks every stored chunk", async () => {
    const r = await verify(stick);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.chunksChecked, 6);
  });

  await t.test("names the chunk with one flipped bit in a pack", async (t) => {
    const s = await copyOf(t, stick);
    await flipBit(join(s, packFileName(0)), second.offset + 100);
    const r = await verify(s);
    assert.equal(r.ok, false);
    assert.equal(r.badChunks.length, 1);
    const [bad] = r.badChunks;
    assert.ok(bad);
    assert.equal(bad.id, second.id.toString("hex"));
    assert.equal(bad.pack, packFileName(0));
    assert.equal(bad.offset, second.offset);
  });

  await t.test("names the chunks lost to a truncated pack", async (t) => {
    const s = await copyOf(t, stick);
    const last = entries.at(-1);
    assert.ok(last);
    await truncate(join(s, packFileName(0)), last.offset + 10);
    const r = await verify(s);
    assert.equal(r.ok, false);
    assert.deepEqual(
      r.badChunks.map((b) => b.id),
      [last.id.toString("hex")],
    );
    assert.match(r.badChunks[0]?.problem ?? "", /truncated/);
  });

  await t.test("catches two chunks swapped in the index", async (t) => {
    const s = await copyOf(t, stick);
    const path = join(s, indexFileName(1));
    const buf = await readFile(path);
    // swap the locations (pack, offset, length) of the first two entries and fix the checksum
    const a = INDEX_HEAD_BYTES + 32;
    const b = INDEX_HEAD_BYTES + INDEX_ENTRY_BYTES + 32;
    const locA = Buffer.from(buf.subarray(a, a + 16));
    buf.copy(buf, a, b, b + 16);
    locA.copy(buf, b);
    sha256(buf.subarray(0, buf.length - 32)).copy(buf, buf.length - 32);
    await writeFile(path, buf);
    const r = await verify(s);
    assert.equal(r.ok, false);
    assert.equal(r.badChunks.length, 2);
    for (const bad of r.badChunks) assert.match(bad.problem, /another chunk/);
  });

  await t.test("catches two chunk records swapped in the pack", async (t) => {
    const s = await copyOf(t, stick);
    const path = join(s, packFileName(0));
    const buf = await readFile(path);
    const recA = Buffer.from(buf.subarray(first.offset, first.offset + first.length));
    const recB = Buffer.from(buf.subarray(second.offset, second.offset + second.length));
    // records are adjacent: write B then A in their combined place
    assert.equal(first.offset + first.length, second.offset);
    Buffer.concat([recB, recA]).copy(buf, first.offset);
    await writeFile(path, buf);
    const r = await verify(s);
    assert.equal(r.ok, false);
    assert.ok(r.badChunks.length >= 2);
  });

  await t.test("refuses an edited manifest", async (t) => {
    const s = await copyOf(t, stick);
    await flipBit(join(s, manifestFileName(1)), 100);
    const r = await verify(s);
    assert.equal(r.ok, false);
    assert.match(r.checks.find((c) => c.check === "manifest signature")?.problem ?? "", /not signed by the admin key/);
  });

  await t.test("refuses a manifest signed by another key", async (t) => {
    const s = await copyOf(t, stick);
    const path = join(s, manifestFileName(1));
    const parsed = parseManifest(await readFile(path));
    const other = generateSigningKeyPair();
    await writeFile(path, encodeSignedManifest({ ...parsed.manifest, signerPublicKey: other.publicKey }, other));
    const r = await verify(s);
    assert.equal(r.ok, false);
    assert.match(r.checks.find((c) => c.check === "manifest signature")?.problem ?? "", /not signed by the admin key pinned/);
  });

  await t.test("refuses a replaced pinned key (header MAC)", async (t) => {
    const s = await copyOf(t, stick);
    const path = join(s, STICK_FILES.header);
    const buf = await readFile(path);
    const other = generateSigningKeyPair();
    for (const copy of [0, HEADER_COPY_BYTES]) {
      other.publicKey.copy(buf, copy + 48);
      sha256(buf.subarray(copy, copy + 208)).copy(buf, copy + 208); // a forger can fix the checksum, not the MAC
    }
    await writeFile(path, buf);
    const r = await verify(s);
    assert.equal(r.ok, false);
    assert.match(r.checks.find((c) => c.check === "header MAC")?.problem ?? "", /fails its MAC/);
  });

  await t.test("refuses an edited key slot file", async (t) => {
    const s = await copyOf(t, stick);
    await flipBit(join(s, STICK_FILES.keyslots), 60);
    const r = await verify(s);
    assert.equal(r.ok, false);
    assert.match(r.checks.find((c) => c.check === "key slots readable")?.problem ?? "", /checksum mismatch/);
  });

  await t.test("reports a chunk the manifest names but no pack holds", async (t) => {
    const s = await copyOf(t, stick);
    const path = join(s, indexFileName(1));
    const buf = await readFile(path);
    // drop the last entry, fix count and checksum
    const count = buf.readUInt32LE(12);
    const body = buf.subarray(0, INDEX_HEAD_BYTES + (count - 1) * INDEX_ENTRY_BYTES);
    body.writeUInt32LE(count - 1, 12);
    await writeFile(path, Buffer.concat([body, sha256(body)]));
    const r = await verify(s);
    assert.equal(r.ok, false);
    assert.equal(r.badChunks.filter((b) => b.pack === "-").length, 1);
  });

  await t.test("checks each pack's header", async (t) => {
    const s = await copyOf(t, stick);
    await flipBit(join(s, packFileName(0)), 2);
    const r = await verify(s);
    assert.equal(r.ok, false);
    assert.equal(r.badChunks.length, 6);
    for (const bad of r.badChunks) assert.match(bad.problem, /pack-00000000\.svp has a bad header/);
  });

  await t.test("reports every chunk of a missing pack instead of stopping", async (t) => {
    const s = await copyOf(t, stick);
    await rm(join(s, packFileName(0)));
    const r = await verify(s);
    assert.equal(r.ok, false);
    assert.equal(r.badChunks.length, 6);
    assert.match(r.badChunks[0]?.problem ?? "", /is missing/);
  });

  await t.test("reports a damaged spare header copy, while the stick still opens", async (t) => {
    const s = await copyOf(t, stick);
    await flipBit(join(s, STICK_FILES.header), HEADER_COPY_BYTES + 20);
    const r = await verify(s);
    assert.equal(r.ok, false);
    assert.match(r.checks.find((c) => c.check === "both header copies")?.problem ?? "", /no spare/);
    const opened = await openStick(s, { passphrase: PASSPHRASE });
    await opened.close();
  });

  await t.test("says so when the key slots come from another stick", async (t) => {
    const s = await copyOf(t, stick);
    const dir = await tempDir(t);
    const { path } = await writeImage(dir, [{ random: 4096 }]);
    const other = join(dir, "other");
    await fastBuild({ image: path, out: other, signingKey: await adminKey(dir) });
    await cp(join(other, STICK_FILES.keyslots), join(s, STICK_FILES.keyslots));
    await assert.rejects(openStick(s, { passphrase: PASSPHRASE }), /keyslots\.bin belongs to another stick/);
    assert.equal((await verify(s)).ok, false);
  });
});

test("a stick whose header is missing or short is an unfinished build; a newer header says so", async (t) => {
  const stick = await goodStick(t);
  const s = await copyOf(t, stick);
  const path = join(s, STICK_FILES.header);
  const full = await readFile(path);
  await truncate(path, 4096);
  await assert.rejects(openStick(s, { passphrase: PASSPHRASE }), (err: unknown) => err instanceof IncompleteStickError && /only 4096 of 8192 bytes/.test(err.message));
  await rm(path);
  await assert.rejects(openStick(s, { passphrase: PASSPHRASE }), (err: unknown) => err instanceof IncompleteStickError && /not a finished stick/.test(err.message));
  // a header from the next format version, checksums intact: a newer stickvm made it
  const relabel = async (version: number): Promise<void> => {
    for (const copy of [0, HEADER_COPY_BYTES]) {
      full.writeUInt16LE(version, copy + 8);
      sha256(full.subarray(copy, copy + 208)).copy(full, copy + 208);
    }
    await writeFile(path, full);
  };
  await relabel(NEWEST_FORMAT_VERSION + 1);
  await assert.rejects(
    openStick(s, { passphrase: PASSPHRASE }),
    (err: unknown) => err instanceof NewerFormatStickError && /made by a newer stickvm: its format version is 4; this stickvm reads versions 1 to 3/.test(err.message),
  );
  // a version-1 header relabelled as version 2 lacks the user template digest and its checksum: damage
  await relabel(2);
  await assert.rejects(openStick(s, { passphrase: PASSPHRASE }), /stick header is damaged .*checksum mismatch \(user template digest\)/);
  // and as version 3, it lacks both extension digests and their checksum
  await relabel(3);
  await assert.rejects(openStick(s, { passphrase: PASSPHRASE }), /stick header is damaged .*checksum mismatch \(user template and boot digests\)/);
});
