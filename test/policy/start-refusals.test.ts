import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { STICK_FILES } from "../../stick-layout/format.js";
import { encodeHeaderCopy } from "../../stick-layout/header.js";
import { openStick } from "../../src/chunkstore/open-stick.js";
import { EXIT } from "../../src/cli/exit-codes.js";
import { sha256 } from "../../src/crypto/hash.js";
import { loadStickState, saveStickState, stickStateAccess, type StickStateAccess } from "../../src/policy/stick-state-file.js";
import { noteUpdateContact } from "../../src/policy/stick-state-updates.js";
import { serve, STICKVM } from "../helpers/serve.js";
import { adminKey, fastBuild, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

const DAY = 24 * 60 * 60 * 1000;

async function stickWithPolicy(t: Parameters<typeof tempDir>[0], policy: object): Promise<{ dir: string; stick: string; hostTmp: string }> {
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: 256 * 1024 }]);
  await writeFile(join(dir, "policy.json"), JSON.stringify(policy));
  const stick = join(dir, "stick");
  await fastBuild({ image, out: stick, signingKey: await adminKey(dir), policy: join(dir, "policy.json") });
  const hostTmp = join(dir, "host-tmp");
  await mkdir(hostTmp);
  return { dir, stick, hostTmp };
}

/** `stickvm serve` as a real process that is expected to refuse: its exit code and message. */
function serveRefused(dir: string, stick: string, hostTmp: string): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [STICKVM, "serve", "--stick", stick, "--socket", join(dir, "nbd.sock")], {
    encoding: "utf8",
    env: { ...process.env, STICKVM_PASSPHRASE: PASSPHRASE, TMPDIR: hostTmp },
    timeout: 60_000,
  });
  return { status: r.status, stderr: r.stderr };
}

async function stateAccess(stick: string): Promise<StickStateAccess> {
  const opened = await openStick(stick, { passphrase: PASSPHRASE });
  try {
    return stickStateAccess(stick, opened.secrets.userKey, opened.header.stickId);
  } finally {
    await opened.close();
  }
}

test("stickvm serve: an expired stick is refused with exit code 11 before anything is served, and leaves nothing on the host", async (t) => {
  const { dir, stick, hostTmp } = await stickWithPolicy(t, { expires: "2020-01-01" });
  const r = serveRefused(dir, stick, hostTmp);
  assert.equal(r.status, EXIT.policyRefused, r.stderr);
  assert.match(r.stderr, /this stick expired at 2020-01-01T00:00:00.000Z/);
  assert.deepEqual(await readdir(hostTmp), []);
});

test("stickvm serve: a start records the last time seen; a clock turned back behind it is refused (11); a revoked stick is refused (12)", async (t) => {
  const { dir, stick, hostTmp } = await stickWithPolicy(t, { expires: "2099-01-01", maxOfflineDays: 30, updateUrl: "https://updates.example.com/" });
  const before = Date.now();
  const s = await serve(["--stick", stick, "--socket", join(dir, "nbd.sock")], { TMPDIR: hostTmp });
  assert.equal(await s.stop(), 0, s.output());
  const access = await stateAccess(stick);
  const seen = (await loadStickState(access)).state;
  assert.ok(seen !== undefined && seen.lastSeenMs >= before && seen.lastSeenMs <= Date.now(), JSON.stringify(seen));

  // as if a host with its clock three days ahead had used the stick: this host's clock is now "turned back"
  await saveStickState(access, seen, { ...seen, lastSeenMs: Date.now() + 3 * DAY });
  const back = serveRefused(dir, stick, hostTmp);
  assert.equal(back.status, EXIT.policyRefused, back.stderr);
  assert.match(back.stderr, /the clock was turned back; set it to the right time/);

  await noteUpdateContact(access, { atMs: Date.now(), revokedIds: [Buffer.from(access.stickId).toString("hex")] });
  const revoked = serveRefused(dir, stick, hostTmp);
  assert.equal(revoked.status, EXIT.revoked, revoked.stderr);
  assert.match(revoked.stderr, /was revoked by its administrator/);
  assert.deepEqual(await readdir(hostTmp), []);
});

test("stickvm serve: a signed policy that fails the schema (an older make-stick's allowHostPlayer) is a damaged stick (5)", async (t) => {
  const { dir, stick, hostTmp } = await stickWithPolicy(t, {});
  // what a make-stick without the schema wrote: the policy and its digest under the header's MAC
  const policy = Buffer.from(JSON.stringify({ allowHostPlayer: false }));
  const opened = await openStick(stick, { passphrase: PASSPHRASE });
  await writeFile(join(stick, STICK_FILES.policy), policy);
  const copy = encodeHeaderCopy({ ...opened.header, policyDigest: sha256(policy) }, opened.secrets.headerMacKey);
  await opened.close();
  await writeFile(join(stick, STICK_FILES.header), Buffer.concat([copy, copy]));
  const r = serveRefused(dir, stick, hostTmp);
  assert.equal(r.status, EXIT.damagedStick, r.stderr);
  assert.match(r.stderr, /allowHostPlayer was replaced by players/);
});
