import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { formatRecoveryKey, parseRecoveryKey } from "../../stick-layout/recovery-key.js";
import { openStick } from "../../src/chunkstore/open-stick.js";
import { sha256 } from "../../src/crypto/hash.js";
import { WrongPassphraseError } from "../../src/errors/errors.js";
import { adminKey, fastBuild, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) {
      const p = join(e.parentPath, e.name);
      out.set(p, sha256(await readFile(p)).toString("hex"));
    }
  }
  return out;
}

test("a wrong passphrase fails clearly and changes nothing; the recovery key opens the stick", async (t) => {
  const dir = await tempDir(t);
  const { path, bytes } = await writeImage(dir, [{ random: 200_000 - (200_000 % 512) }]);
  const out = join(dir, "stick");
  const r = await fastBuild({ image: path, out, signingKey: await adminKey(dir) });

  const before = await snapshot(out);
  await assert.rejects(openStick(out, { passphrase: `${PASSPHRASE}!` }), (err: unknown) => {
    assert.ok(err instanceof WrongPassphraseError);
    assert.match(err.message, /wrong passphrase/);
    return true;
  });
  await assert.rejects(openStick(out, { passphrase: "" }), WrongPassphraseError);
  assert.deepEqual(await snapshot(out), before, "no file of the stick changed");

  const recoveryKey = parseRecoveryKey(r.recoveryKey);
  assert.ok(recoveryKey, "the printed recovery key parses");
  const stick = await openStick(out, { recoveryKey });
  t.after(() => stick.close());
  assert.ok((await stick.base.read(0, bytes.length)).equals(bytes));

  const wrongKey = Buffer.from(recoveryKey);
  wrongKey[0] = (wrongKey[0] ?? 0) ^ 1;
  await assert.rejects(openStick(out, { recoveryKey: wrongKey }), /wrong recovery key/);
});

test("a recovery key with a typo is refused by its checksum; case, spaces and dashes do not matter", () => {
  const key = Buffer.alloc(32, 7);
  const formatted = formatRecoveryKey(key);
  assert.match(formatted, /^SVMR(-[A-Z2-7]{1,4})+$/);
  assert.ok(parseRecoveryKey(formatted.toLowerCase().replace(/-/g, " "))?.equals(key));
  const typo = formatted.slice(0, 10) + (formatted[10] === "A" ? "B" : "A") + formatted.slice(11);
  assert.equal(parseRecoveryKey(typo), undefined);
  assert.equal(parseRecoveryKey("SVMR-AAAA"), undefined);
  assert.equal(parseRecoveryKey(formatted.replace("SVMR", "XXXX")), undefined);
});
