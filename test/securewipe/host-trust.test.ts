import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { hostTrustPath, resolveHostTrust } from "../../src/securewipe/host-trust.js";
import { hostCachePolicy } from "../../src/policy/host-cache-policy.js";
import { tempDir } from "../helpers/sticks.js";

const HOST = "0123456789abcdef0123456789abcdef";

test("host: ask asks once per host and keeps the answer on the stick; with no one to ask, a kiosk, asked again next time", async (t) => {
  const stick = await tempDir(t);
  assert.equal(hostCachePolicy(Buffer.from(JSON.stringify({ host: "ask" }))).host, "ask");
  let asked = 0;
  const yes = (): Promise<boolean> => { asked++; return Promise.resolve(true); };
  const warnings: string[] = [];
  assert.equal(await resolveHostTrust(stick, HOST, undefined, (m) => warnings.push(m)), "kiosk");
  assert.equal(await resolveHostTrust(stick, HOST, yes, (m) => warnings.push(m)), "trusted");
  assert.equal(await resolveHostTrust(stick, HOST, yes, (m) => warnings.push(m)), "trusted");
  assert.equal(asked, 1, "asked once");
  assert.equal(await readFile(hostTrustPath(stick, HOST), "utf8"), "trusted\n");
  const other = "fedcba9876543210fedcba9876543210";
  assert.equal(await resolveHostTrust(stick, other, () => Promise.resolve(false), (m) => warnings.push(m)), "kiosk", "another host is asked on its own");
  assert.deepEqual(warnings, []);
});

test("an answer the stick cannot keep is used for this session, with a warning", async (t) => {
  const stick = await tempDir(t);
  // a file where the folder should be: the write fails as on a full or write-protected stick
  await writeFile(join(stick, "residue"), "");
  const warnings: string[] = [];
  assert.equal(await resolveHostTrust(stick, HOST, () => Promise.resolve(true), (m) => warnings.push(m)), "trusted");
  assert.match(warnings.join(), /could not be kept on the stick/);
});
