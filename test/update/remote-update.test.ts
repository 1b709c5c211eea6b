import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { appendFile, cp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { packFileName, releaseFileName, UPDATE_DOWNLOAD_DIR } from "../../stick-layout/format.js";
import { verifyStick } from "../../src/admin/verify.js";
import { openStick } from "../../src/chunkstore/open-stick.js";
import { StickvmError } from "../../src/errors/errors.js";
import { freeLoopbackPort } from "../../src/run/free-port.js";
import { publishRepository } from "../../src/update/publish.js";
import { remoteUpdate, type RemoteOutcome } from "../../src/update/remote-update.js";
import { fetchRevocationList } from "../../src/update/revocation-fetch.js";
import { isRevoked } from "../../src/policy/revocation.js";
import { lastUpdateContact } from "../../src/update/update-state-file.js";
import { exists, flipBit } from "../helpers/files.js";
import { serve } from "../helpers/serve.js";
import { adminKey, fastBuild, haveTool, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";
import { startNginx } from "./nginx.js";
import { baseOf, changedImage, CHUNK, stage } from "./update-helpers.js";

const skip = haveTool("nginx") ? false : "nginx is not installed (Debian package nginx-light; scripts/setup-debian.sh installs it)";

/** A user's stick and an admin's copy of the same lineage with version 2 staged, published under www/good/. */
async function fleet(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t);
  const key = await adminKey(dir);
  const port = await freeLoopbackPort();
  const url = `http://127.0.0.1:${port}/good/`;
  const policy = join(dir, "policy.json");
  await writeFile(policy, JSON.stringify({ updateUrl: url, updateCheckTimeoutSeconds: 5 }));
  const { path, bytes: v1 } = await writeImage(dir, [{ random: 40 * CHUNK }]);
  const user = join(dir, "user-stick");
  const admin = join(dir, "admin-stick");
  const built = await fastBuild({ image: path, out: user, signingKey: key, policy });
  const adminStick = await fastBuild({ image: path, out: admin, signingKey: key, policy });
  // every other chunk of the first 32 changes: 16 new records, together in the admin's new pack
  const v2 = changedImage(v1, Array.from({ length: 16 }, (_, i) => 2 * i));
  await stage(admin, dir, v2, key);
  const www = join(dir, "www");
  await publishRepository({ stick: admin, out: join(www, "good"), signingKey: key, lineage: "default", revoke: [adminStick.stickId] });
  return { dir, key, port, url, user, admin, www, v1, v2, stickId: built.stickId };
}

async function check(stick: string, url: string, onStatus: (m: string) => void = () => undefined, signal?: AbortSignal): Promise<RemoteOutcome> {
  const o = await openStick(stick, { passphrase: PASSPHRASE });
  try {
    return await remoteUpdate({ stickDir: stick, header: o.header, secrets: o.secrets, template: undefined, url: new URL(url), timeoutMs: 5000, onStatus, ...(signal ? { signal } : {}) });
  } finally {
    await o.close();
  }
}

test("remote update through nginx: exact bytes stated, only missing chunks fetched by range, stopped halfway and resumed by the launcher, applied at the next start", { skip, timeout: 10 * 60_000 }, async (t) => {
  const f = await fleet(t);
  // slow answers, so that stopping nginx lands in the middle of the download
  let nginx = await startNginx(join(f.dir, "nginx"), f.www, f.port, 128 * 1024);
  const statuses: string[] = [];
  let stopped: Promise<void> | undefined;
  const first = await check(f.user, f.url, (m) => {
    statuses.push(m);
    if (m.includes("downloading")) stopped = new Promise((r) => setTimeout(r, 1200)).then(() => nginx.stop());
  });
  await stopped;
  const stated = /downloading (\d+) bytes \((\d+) chunks the stick lacks, in (\d+) range requests/.exec(statuses.join("\n"));
  assert.ok(stated, statuses.join("\n"));
  const [total, chunks, requests] = [Number(stated[1]), Number(stated[2]), Number(stated[3])];
  assert.equal(chunks, 16, "only the 16 changed chunks are fetched");
  assert.equal(requests, 1, "the new records lie together in the repository's pack: one request");
  assert.ok(first.kind === "interrupted" && first.downloadedBytes > 0 && first.remainingBytes > 0, JSON.stringify(first));
  assert.equal(first.downloadedBytes + first.remainingBytes, total);
  assert.ok(await lastUpdateContact({ stickDir: f.user, stickId: Buffer.from(f.stickId, "hex"), userKey: (await openStick(f.user, { passphrase: PASSPHRASE }).then(async (o) => { const k = Buffer.from(o.secrets.userKey); await o.close(); return k; })) }) !== undefined, "the contact is recorded");
  assert.equal((await baseOf(f.user, true)).version, 1, "an interrupted download stages nothing; the stick works on version 1");

  // a crash's torn tail on the download's pack: the resume cuts it and keeps the whole records
  await appendFile(join(f.user, packFileName(1)), randomBytes(100));
  // the launcher resumes it: stickvm serve checks the policy's updateUrl in the background
  nginx = await startNginx(join(f.dir, "nginx"), f.www, f.port);
  t.after(() => nginx.stop());
  const served = await serve(["--stick", f.user, "--socket", join(f.dir, "nbd.sock")]);
  for (let i = 0; !/staged: the next start applies it/.test(served.output()) && i < 600; i++) await new Promise((r) => setTimeout(r, 100));
  await served.stop();
  const out = served.output();
  const resumed = /downloading (\d+) bytes \((\d+) chunks the stick lacks, in \d+ range requests; (\d+) chunks were downloaded before\)/.exec(out);
  assert.ok(resumed, out);
  assert.equal(Number(resumed[1]), first.remainingBytes, "only what was left is fetched (the records lie together: no gaps)");
  assert.equal(Number(resumed[2]) + Number(resumed[3]), 16);
  assert.equal(await exists(join(f.user, UPDATE_DOWNLOAD_DIR)), false);
  const log = await readFile(nginx.accessLog, "utf8");
  assert.match(log, /\/good\/chunks\/pack-00000001\.svp 206 bytes=\d+-\d+ \d+/, "records come by range requests");
  assert.doesNotMatch(log, /pack-00000000\.svp/, "nothing of the pack the stick already has");
  const applied = await baseOf(f.user, true);
  assert.equal(applied.version, 2);
  assert.ok(applied.bytes.equals(f.v2), "the next start serves version 2");
  assert.equal((await check(f.user, f.url)).kind, "up-to-date");
  assert.ok((await verifyStick(f.user, { passphrase: PASSPHRASE })).ok, "every chunk of the updated stick decodes");

  // the revocation list: signed, naming the stick it revokes and no other
  const o = await openStick(f.user, { passphrase: PASSPHRASE });
  try {
    const list = await fetchRevocationList({ url: new URL(f.url), header: o.header, timeoutMs: 5000 });
    const listed = list.stickIds.map((id) => id.toString("hex"));
    assert.ok(!isRevoked(o.header.stickId, listed));
    assert.ok(isRevoked(await openStick(f.admin, { passphrase: PASSPHRASE }).then(async (a) => { const id = Buffer.from(a.header.stickId); await a.close(); return id; }), listed));
  } finally {
    await o.close();
  }
  // a repository whose list names this stick: the contact notes it, and the next start refuses (exit 12)
  await publishRepository({ stick: f.admin, out: join(f.www, "revoking"), signingKey: f.key, lineage: "default", revoke: [f.stickId] });
  await check(f.user, `http://127.0.0.1:${f.port}/revoking/`);
  await assert.rejects(serve(["--stick", f.user, "--socket", join(f.dir, "nbd.sock")]), /exited with 12[\s\S]*was revoked by its administrator/);
});

test("remote update refusals: a tampered pack, a foreign signature, a replayed older release; the stick keeps working on its version", { skip, timeout: 10 * 60_000 }, async (t) => {
  const f = await fleet(t);
  const tampered = join(f.www, "tampered");
  await cp(join(f.www, "good"), tampered, { recursive: true });
  await flipBit(join(tampered, packFileName(1)), 300);
  const otherKey = await adminKey(join(f.dir, "other"));
  const otherAdmin = join(f.dir, "other-admin");
  const { path } = await writeImage(f.dir, [{ random: 4 * CHUNK }], "other.raw");
  await fastBuild({ image: path, out: otherAdmin, signingKey: otherKey });
  await stage(otherAdmin, f.dir, changedImage(await readFile(path), [0]), otherKey);
  await publishRepository({ stick: otherAdmin, out: join(f.www, "foreign"), signingKey: otherKey, lineage: "default", revoke: [] });
  const old = join(f.dir, "admin-v1");
  await fastBuild({ image: join(f.dir, "image.raw"), out: old, signingKey: f.key });
  await publishRepository({ stick: old, out: join(f.www, "old"), signingKey: f.key, lineage: "default", revoke: [] });
  const nginx = await startNginx(join(f.dir, "nginx"), f.www, f.port);
  t.after(() => nginx.stop());
  const base = `http://127.0.0.1:${f.port}`;

  await assert.rejects(check(f.user, `${base}/tampered/`), (err: StickvmError) => err.code === "UPDATE_REFUSED" && /pack 1 .* is damaged or tampered/.test(err.message));
  assert.equal(await exists(join(f.user, UPDATE_DOWNLOAD_DIR)), false, "a refused download leaves nothing");
  assert.equal(await exists(join(f.user, packFileName(1))), false);
  assert.deepEqual((await baseOf(f.user, true)).version, 1);

  await assert.rejects(check(f.user, `${base}/foreign/`), (err: StickvmError) => err.code === "UPDATE_REFUSED" && /not signed by the admin key pinned/.test(err.message));
  await assert.rejects(fetchRevocationList({ url: new URL(`${base}/foreign/`), header: (await openStick(f.user, { passphrase: PASSPHRASE }).then(async (o) => { const h = o.header; await o.close(); return h; })), timeoutMs: 5000 }), /not signed by the admin key pinned/);
  assert.ok((await baseOf(f.user, true)).bytes.equals(f.v1));

  assert.equal((await check(f.user, `${base}/good/`)).kind, "staged");
  assert.equal(await exists(join(f.user, releaseFileName(2))), true);
  assert.equal((await baseOf(f.user, true)).version, 2);
  await assert.rejects(check(f.user, `${base}/old/`), (err: StickvmError) => err.code === "UPDATE_REFUSED" && /offers base version 1, older than this stick's 2 .*rollback/.test(err.message));
  const after = await baseOf(f.user, true);
  assert.equal(after.version, 2);
  assert.ok(after.bytes.equals(f.v2));
});
