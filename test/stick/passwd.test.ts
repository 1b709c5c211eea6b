import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cp, mkdtemp, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { STICK_FILES } from "../../stick-layout/format.js";
import { KEYSLOT_BYTES } from "../../stick-layout/keyslots.js";
import { parseRecoveryKey } from "../../stick-layout/recovery-key.js";
import { verifyStick } from "../../src/admin/verify.js";
import { openStick } from "../../src/chunkstore/open-stick.js";
import type { Unlock } from "../../src/chunkstore/stick-files.js";
import { CorruptStickError, NoSpaceError, WrongPassphraseError } from "../../src/errors/errors.js";
import type { RewriteStep } from "../../src/stick/keyslots-rewrite.js";
import { changePassphrase } from "../../src/stick/passwd.js";
import { adminKey, fastBuild, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

const SLOTS_AT = 28; // FORMAT.md §7: slot 0 at 28, slot 1 (recovery) at 284
const SECTOR = 512;

class Crash extends Error {}

async function builtStick(t: { after: (fn: () => Promise<void>) => void }): Promise<{ stick: string; recoveryKey: Buffer; image: Buffer }> {
  const dir = await tempDir(t);
  const { path, bytes } = await writeImage(dir, [{ random: 128 * 1024 }]);
  const stick = join(dir, "stick");
  const r = await fastBuild({ image: path, out: stick, signingKey: await adminKey(dir) });
  const recoveryKey = parseRecoveryKey(r.recoveryKey);
  assert.ok(recoveryKey);
  return { stick, recoveryKey, image: bytes };
}

/** Whether the stick opens (every reading step, and the base reads back) with this passphrase or key. */
async function opens(stick: string, how: Unlock, image?: Buffer): Promise<boolean> {
  try {
    const s = await openStick(stick, how);
    try {
      if (image !== undefined) assert.ok((await s.base.read(0, image.length)).equals(image));
    } finally {
      await s.close();
    }
    return true;
  } catch (err) {
    if (err instanceof WrongPassphraseError) return false;
    throw err;
  }
}

async function passwd(stick: string, unlock: Unlock, next: string, afterStep?: (step: RewriteStep) => Promise<void>): Promise<void> {
  await changePassphrase({ stick, unlock, newPassphrase: () => Promise.resolve(next), ...(afterStep === undefined ? {} : { afterStep }) });
}

const slotsPath = (stick: string): string => join(stick, STICK_FILES.keyslots);
const nextPath = (stick: string): string => join(stick, STICK_FILES.keyslotsNext);
const recoverySlot = (file: Buffer): Buffer => file.subarray(SLOTS_AT + KEYSLOT_BYTES, SLOTS_AT + 2 * KEYSLOT_BYTES);

test("passwd seals the same secrets under a new passphrase: the old one stops working, the recovery key and the data stay", async (t) => {
  const { stick, recoveryKey, image } = await builtStick(t);
  const before = await readFile(slotsPath(stick));
  await passwd(stick, { passphrase: PASSPHRASE }, "a new passphrase");
  const after = await readFile(slotsPath(stick));

  assert.equal(await opens(stick, { passphrase: "a new passphrase" }, image), true);
  assert.equal(await opens(stick, { passphrase: PASSPHRASE }), false);
  assert.equal(await opens(stick, { recoveryKey }, image), true);
  assert.ok(recoverySlot(after).equals(recoverySlot(before)), "the recovery slot is kept byte for byte");
  assert.ok(!after.subarray(SLOTS_AT + 16, SLOTS_AT + 48).equals(before.subarray(SLOTS_AT + 16, SLOTS_AT + 48)), "the passphrase slot has a new salt");
  assert.ok(after.subarray(SLOTS_AT + 4, SLOTS_AT + 16).equals(before.subarray(SLOTS_AT + 4, SLOTS_AT + 16)), "and the old slot's argon2id cost");
  assert.equal(after.length, before.length);
  assert.deepEqual((await readdir(stick)).filter((n) => n.startsWith("keyslots") || n.endsWith(".lock")), [STICK_FILES.keyslots]);
});

test("a wrong old passphrase or recovery key changes nothing and never asks for the new one", async (t) => {
  const { stick, recoveryKey } = await builtStick(t);
  const before = await readFile(slotsPath(stick));
  const listing = (await readdir(stick)).sort();
  let asked = false;
  const newPassphrase = (): Promise<string> => {
    asked = true;
    return Promise.resolve("never used");
  };
  await assert.rejects(changePassphrase({ stick, unlock: { passphrase: "not it" }, newPassphrase }), WrongPassphraseError);
  const wrongKey = Buffer.from(recoveryKey);
  wrongKey[5] = (wrongKey[5] ?? 0) ^ 0x40;
  await assert.rejects(changePassphrase({ stick, unlock: { recoveryKey: wrongKey }, newPassphrase }), /wrong recovery key/);
  assert.equal(asked, false);
  assert.ok((await readFile(slotsPath(stick))).equals(before), "keyslots.bin is byte for byte the same");
  assert.deepEqual((await readdir(stick)).sort(), listing, "no file was added or left (the lock is gone)");
});

test("the recovery key sets a new passphrase when the old one is forgotten", async (t) => {
  const { stick, recoveryKey, image } = await builtStick(t);
  await passwd(stick, { recoveryKey }, "chosen after forgetting");
  assert.equal(await opens(stick, { passphrase: "chosen after forgetting" }, image), true);
  assert.equal(await opens(stick, { passphrase: PASSPHRASE }), false);
  assert.equal(await opens(stick, { recoveryKey }), true);
});

test("a crash after each write step leaves a stick that opens with the old or the new passphrase, and always the recovery key; passwd then finishes", async (t) => {
  const { stick, recoveryKey, image } = await builtStick(t);
  const original = await readFile(slotsPath(stick));
  const steps: RewriteStep[] = ["stale next file removed", "next file written", "key slots written", "next file removed"];
  for (const [i, crashAt] of steps.entries()) {
    await writeFile(slotsPath(stick), original);
    await rm(nextPath(stick), { force: true });
    await assert.rejects(
      passwd(stick, { passphrase: PASSPHRASE }, "new", (step) => (step === crashAt ? Promise.reject(new Crash(step)) : Promise.resolve())),
      Crash,
    );
    const newOpens = i >= steps.indexOf("key slots written");
    assert.equal(await opens(stick, { passphrase: "new" }, image), newOpens, `after "${crashAt}": the new passphrase`);
    assert.equal(await opens(stick, { passphrase: PASSPHRASE }, image), !newOpens, `after "${crashAt}": the old passphrase`);
    assert.equal(await opens(stick, { recoveryKey }, image), true, `after "${crashAt}": the recovery key`);
    // the next passwd, with whichever passphrase opens, finishes cleanly
    await passwd(stick, { passphrase: newOpens ? "new" : PASSPHRASE }, "third");
    assert.equal(await opens(stick, { passphrase: "third" }), true);
    assert.deepEqual((await readdir(stick)).filter((n) => n.startsWith("keyslots")), [STICK_FILES.keyslots]);
  }
});

test("torn writes: a short keyslots.new is ignored, a torn keyslots.bin falls back to keyslots.new, and a passwd from there repairs it", async (t) => {
  const { stick, recoveryKey, image } = await builtStick(t);
  const oldBytes = await readFile(slotsPath(stick));
  // the bytes passwd would write: run it, keep the result, put the old file back
  await passwd(stick, { passphrase: PASSPHRASE }, "new");
  const newBytes = await readFile(slotsPath(stick));
  const setState = async (bin: Buffer, next: Buffer | undefined): Promise<void> => {
    await writeFile(slotsPath(stick), bin);
    if (next === undefined) await rm(nextPath(stick), { force: true });
    else await writeFile(nextPath(stick), next);
  };

  // crash while keyslots.new is written: keyslots.bin is whole and wins
  for (const length of [0, 100, SECTOR, newBytes.length - 1]) {
    await setState(oldBytes, newBytes.subarray(0, length));
    assert.equal(await opens(stick, { passphrase: PASSPHRASE }, image), true, `keyslots.new of ${length} bytes`);
    assert.equal(await opens(stick, { passphrase: "new" }), false);
  }

  // crash while keyslots.bin is overwritten in place: any mix of sectors fails its checksum
  const torn = {
    "new first sector": Buffer.concat([newBytes.subarray(0, SECTOR), oldBytes.subarray(SECTOR)]),
    "new second sector": Buffer.concat([oldBytes.subarray(0, SECTOR), newBytes.subarray(SECTOR)]),
    "a sector of zeros": Buffer.concat([Buffer.alloc(SECTOR), newBytes.subarray(SECTOR)]),
  };
  for (const [what, bin] of Object.entries(torn)) {
    await setState(bin, newBytes);
    assert.equal(await opens(stick, { passphrase: "new" }, image), true, what);
    assert.equal(await opens(stick, { passphrase: PASSPHRASE }), false, what);
    assert.equal(await opens(stick, { recoveryKey }, image), true, what);
  }

  const report = await verifyStick(stick, { recoveryKey });
  assert.equal(report.ok, false, "verify names the torn file");
  assert.match(report.checks.find((c) => c.check === "keyslots.bin whole")?.problem ?? "", /torn .*run stickvm passwd again/);

  // a torn keyslots.bin without keyslots.new (which the write order never leaves) is damage, said so
  await setState(torn["new first sector"], undefined);
  await assert.rejects(openStick(stick, { recoveryKey }), (err: unknown) => err instanceof CorruptStickError && /checksum mismatch/.test(err.message));

  // passwd on a torn keyslots.bin keeps keyslots.new as the fallback until keyslots.bin is whole again
  await setState(torn["new first sector"], newBytes);
  await assert.rejects(
    passwd(stick, { passphrase: "new" }, "third", (step) => {
      assert.notEqual(step, "stale next file removed", "keyslots.new is the only good copy: it is not removed first");
      return step === "key slots written" ? Promise.reject(new Crash(step)) : Promise.resolve();
    }),
    Crash,
  );
  assert.ok((await readFile(nextPath(stick))).equals(newBytes), "keyslots.new untouched");
  assert.equal(await opens(stick, { passphrase: "third" }, image), true);
  await setState(torn["new first sector"], newBytes);
  await passwd(stick, { passphrase: "new" }, "third");
  assert.equal(await opens(stick, { passphrase: "third" }), true);
  assert.equal(await opens(stick, { recoveryKey }), true);
  assert.deepEqual((await readdir(stick)).filter((n) => n.startsWith("keyslots")), [STICK_FILES.keyslots]);
});

// A small tmpfs is a stick that fills up; mounting one takes root.
const canMount = process.getuid?.() === 0 && spawnSync("sh", ["-c", "command -v mount"]).status === 0;

test("a full stick: passwd fails with NO_SPACE before keyslots.bin is touched, and the old passphrase still opens", { skip: canMount ? false : "needs root to mount a tmpfs" }, async (t) => {
  const { stick: built, recoveryKey, image } = await builtStick(t);
  const stick = await mkdtemp(join(tmpdir(), "stickvm-small-stick-"));
  t.after(async () => {
    spawnSync("umount", [stick]);
    await rm(stick, { recursive: true, force: true });
  });
  const mount = spawnSync("mount", ["-t", "tmpfs", "-o", "size=2M", "tmpfs", stick], { encoding: "utf8" });
  assert.equal(mount.status, 0, mount.stderr);
  // what opening reads: the header, the key slots, the manifest, the index and the packs
  for (const name of [STICK_FILES.header, STICK_FILES.keyslots, STICK_FILES.baseDir, STICK_FILES.chunksDir]) await cp(join(built, name), join(stick, name), { recursive: true });
  const before = await readFile(slotsPath(stick));

  const fill = async (): Promise<void> => {
    const fh = await open(join(stick, "filler"), "w");
    try {
      for (;;) await fh.write(Buffer.alloc(4096));
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, "ENOSPC");
    } finally {
      await fh.close();
    }
  };
  // fill it once the lock is taken, right before keyslots.new is written
  await assert.rejects(
    passwd(stick, { passphrase: PASSPHRASE }, "new", (step) => (step === "stale next file removed" ? fill() : Promise.resolve())),
    (err: unknown) => err instanceof NoSpaceError,
  );
  assert.ok((await readFile(slotsPath(stick))).equals(before));
  assert.deepEqual((await readdir(stick)).sort(), ["base", "chunks", "filler", "keyslots.bin", "stick.hdr"], "no keyslots.new and no lock left");
  assert.equal(await opens(stick, { passphrase: PASSPHRASE }, image), true);
  assert.equal(await opens(stick, { recoveryKey }), true);

  await rm(join(stick, "filler"));
  await passwd(stick, { passphrase: PASSPHRASE }, "new");
  assert.equal(await opens(stick, { passphrase: "new" }, image), true);
});
