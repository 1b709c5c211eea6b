import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { SessionResidue, wipeStale } from "../../src/securewipe/residue.js";
import { ResidueJournal } from "../../src/securewipe/residue-journal-file.js";
import { encodeResidueLine } from "../../stick-layout/residue-journal.js";
import { STICKVM, serve } from "../helpers/serve.js";
import { adminKey, fastBuild, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

const HOST = "0123456789abcdef0123456789abcdef";

async function layout(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t);
  const stick = join(dir, "stick");
  const shm = join(dir, "shm");
  const cacheRoot = join(dir, "home", ".cache", "stickvm");
  await mkdir(stick);
  await mkdir(shm);
  await mkdir(join(dir, "home"));
  return { dir, stick, shm, cacheRoot, roots: { temp: [shm], cache: [cacheRoot] } };
}

test("a session journals each folder on the stick before it makes it, and at its end wipes them and clears the journal", async (t) => {
  const { stick, shm, cacheRoot, roots } = await layout(t);
  const journal = ResidueJournal.forHost(stick, HOST);
  const residue = new SessionResidue(journal, roots);
  const run = await residue.makeFolder("run", shm);
  assert.match(await readFile(journal.path, "utf8"), new RegExp(`"path":"${run}"`), "journaled");
  await writeFile(join(run, "nbd.sock.stand-in"), Buffer.alloc(5000, 1));
  const cache = join(cacheRoot, "fedcba9876543210fedcba9876543210");
  await residue.recordCacheFolder(cache, false);
  const lines = (await readFile(journal.path, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { what: string; path: string });
  // ~/.cache existed? no: home/.cache and home/.cache/stickvm are both made, so both are journaled first
  assert.deepEqual(lines.map((l) => [l.what, l.path]), [["run", run], ["cache-parent", join(cacheRoot, "..")], ["cache-parent", cacheRoot], ["cache", cache]]);
  await mkdir(join(cache, "chunks", "ab"), { recursive: true });
  await writeFile(join(cache, "chunks", "ab", "ab00"), Buffer.alloc(300, 2));
  const report = await residue.finish();
  assert.deepEqual(report.items.map((i) => [i.what, i.outcome]), [["cache", "wiped"], ["cache-parent", "wiped"], ["cache-parent", "wiped"], ["run", "wiped"]]);
  assert.equal(report.items.reduce((a, i) => a + i.bytes, 0), 5300);
  assert.deepEqual(await readdir(shm), []);
  assert.deepEqual(await readdir(join(cacheRoot, "..", "..")), [], "the folders made for the cache are gone too");
  assert.deepEqual(await readdir(join(stick, "residue")), [], "the journal is cleared");
});

test("a trusted host's cache is kept at the end; a crafted journal's /etc/passwd, `..` and symlinks out are refused and reported, and stay listed", async (t) => {
  const { dir, stick, shm, cacheRoot, roots } = await layout(t);
  await mkdir(cacheRoot, { recursive: true });
  const journal = ResidueJournal.forHost(stick, HOST);
  const residue = new SessionResidue(journal, roots);
  const cache = join(cacheRoot, "fedcba9876543210fedcba9876543210");
  await residue.recordCacheFolder(cache, true);
  await mkdir(cache);
  assert.deepEqual((await residue.finish()).items.map((i) => i.outcome), ["kept"]);
  assert.deepEqual(await readdir(cacheRoot), ["fedcba9876543210fedcba9876543210"]);

  const precious = join(dir, "precious");
  await writeFile(precious, "keep me");
  const link = join(shm, "stickvm-session-0123456789abcdef");
  await symlink(dir, link);
  const dead = join(shm, "stickvm-run-00000000000000ff");
  await mkdir(dead);
  await writeFile(join(dead, "left"), "by a killed session");
  const entries = [
    { kind: "tree", what: "run", path: "/etc/passwd" },
    { kind: "tree", what: "session", path: `${shm}/../stickvm-session-0123456789abcdef` },
    { kind: "tree", what: "session", path: link },
    { kind: "tree", what: "run", path: dead },
  ] as const;
  await mkdir(join(stick, "residue"), { recursive: true });
  await writeFile(journal.path, entries.map((e) => encodeResidueLine({ ...e, keep: false, createdMs: 1 })).join("") + "{torn");
  const report = await wipeStale(journal, roots);
  assert.deepEqual(report.items.map((i) => i.outcome), ["wiped", "refused", "refused", "refused"]);
  assert.match(report.items.map((i) => i.reason).join("\n"), /symbolic link: never followed[^]*not a plain absolute path[^]*does not have the name of a run folder/);
  assert.match(report.journalProblems.join(), /cut short/);
  assert.equal(await readFile(precious, "utf8"), "keep me");
  assert.equal(await readFile("/etc/passwd", "utf8").then((s) => s.length > 0), true);
  // refused entries stay in the journal, to be reported again
  assert.equal((await wipeStale(journal, roots)).items.filter((i) => i.outcome === "refused").length, 3);
});

test("stickvm wipe finishes what a killed `stickvm serve` left on the host, and a second wipe finds nothing", async (t) => {
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: 1024 * 1024 }]);
  const stick = join(dir, "stick");
  await fastBuild({ image, out: stick, signingKey: await adminKey(dir) });
  const sandbox = join(dir, "host");
  const env = { TMPDIR: join(sandbox, "tmp"), HOME: join(sandbox, "home"), XDG_CACHE_HOME: join(sandbox, "home", ".cache"), XDG_RUNTIME_DIR: join(sandbox, "run") };
  for (const d of Object.values(env)) await mkdir(d, { recursive: true });
  const s = await serve(["--stick", stick, "--socket", join(dir, "nbd.sock")], env);
  const before = (await readdir(env.TMPDIR)).length + (await readdir(env.XDG_CACHE_HOME)).length;
  assert.ok(before >= 2, "a session folder and a cache folder while it runs");
  s.proc.kill("SIGKILL");
  await new Promise((r) => s.proc.once("exit", r));
  const wipe = (): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, [STICKVM, "wipe", "--stick", stick, "--json"], { encoding: "utf8", env: { ...process.env, ...env, STICKVM_PASSPHRASE: PASSPHRASE } });
  const first = wipe();
  assert.equal(first.status, 0, String(first.stderr));
  const report = JSON.parse(String(first.stdout)) as { items: { what: string; outcome: string; files: number }[] };
  assert.deepEqual(report.items.map((i) => [i.what, i.outcome]).sort(), [["cache", "wiped"], ["cache-parent", "wiped"], ["session", "wiped"]]);
  assert.deepEqual(await readdir(env.TMPDIR), []);
  assert.deepEqual(await readdir(env.XDG_CACHE_HOME), []);
  const second = wipe();
  assert.equal(second.status, 0);
  assert.deepEqual((JSON.parse(String(second.stdout)) as { items: unknown[] }).items, []);
  const text = spawnSync(process.execPath, [STICKVM, "wipe", "--stick", stick], { encoding: "utf8", env: { ...process.env, ...env } });
  assert.match(text.stdout, /nothing to wipe/);
});
