import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { EXIT } from "../../src/cli/exit-codes.js";
import { runClient as run, serve, STICKVM } from "../helpers/serve.js";
import { adminKey, haveTool, PASSPHRASE, fastBuild, REPO_ROOT, tempDir, writeImage } from "../helpers/sticks.js";

const MiB = 1024 * 1024;
const missing = ["nbdinfo", "qemu-img", "qemu-io"].filter((t) => !haveTool(t));
const skip = missing.length > 0 ? `not installed: ${missing.join(", ")}` : false;

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out;
}

test("stickvm serve: three exports, the base byte for byte, the user disk survives kill -9, one server per stick, a killed session's files wiped at the next start", { skip }, async (t) => {
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: 3 * MiB }, { zeros: 2 * MiB }, { random: MiB + 4096 }]);
  const stick = join(dir, "stick");
  await fastBuild({ image, out: stick, signingKey: await adminKey(dir), userSize: 32 * MiB, localSize: 16 * MiB });
  const hostTmp = join(dir, "host-tmp");
  await mkdir(hostTmp);
  const socket = join(dir, "nbd.sock");
  const env = { TMPDIR: hostTmp };

  let s = await serve(["--stick", stick, "--socket", socket], env);
  t.after(() => s.proc.kill("SIGKILL"));
  assert.deepEqual([...s.exports.keys()], ["system", "user", "local"]);
  assert.equal(s.exports.get("user")?.size, 32 * MiB);
  const list = run("nbdinfo", ["--list", `nbd+unix:///?socket=${socket}`]);
  for (const name of ["system", "user", "local"]) assert.match(list, new RegExp(`export="${name}"`));
  assert.match(list, /export-size: 6295552/);
  assert.match(run("nbdinfo", ["--map", s.exports.get("system")?.uri ?? ""]), /2097152\s+3\s+hole,zero/);
  run("qemu-img", ["compare", "-f", "raw", "-F", "raw", image, s.exports.get("system")?.uri ?? ""]);

  const user = s.exports.get("user")?.uri ?? "";
  const MARKER = "STICKVM-PLAINTEXT-MARKER";
  run("qemu-io", ["-f", "raw", "-c", "write -P 0x5a 1000 70001", "-c", "flush", user]);
  const markerFile = join(dir, "marker.bin");
  await writeFile(markerFile, Buffer.from(MARKER.repeat(200)));
  for (const exp of ["system", "user", "local"]) run("qemu-io", ["-f", "raw", "-c", `write -s ${markerFile} ${MiB} ${MARKER.length * 200}`, "-c", "flush", s.exports.get(exp)?.uri ?? ""]);

  // a second server on the same stick is refused while the first runs
  const second = spawnSync(process.execPath, [STICKVM, "serve", "--stick", stick, "--socket", join(dir, "other.sock")], {
    encoding: "utf8",
    env: { ...process.env, STICKVM_PASSPHRASE: PASSPHRASE },
  });
  assert.equal(second.status, EXIT.usage);
  assert.match(second.stderr, /in use by process/);

  // no file on the stick or the host holds the marker in plaintext while serving
  for (const f of [...(await filesUnder(stick)), ...(await filesUnder(hostTmp))]) {
    assert.equal((await readFile(f)).indexOf(MARKER), -1, `${f} holds the marker in plaintext`);
  }

  // kill -9, restart: everything flushed is there
  s.proc.kill("SIGKILL");
  await new Promise((r) => s.proc.once("exit", r));
  s = await serve(["--stick", stick, "--socket", socket], env);
  run("qemu-io", ["-f", "raw", "-c", "read -P 0x5a 1000 70001", s.exports.get("user")?.uri ?? ""]);
  assert.match(run("qemu-io", ["-f", "raw", "-c", `read -v ${MiB} 64`, s.exports.get("user")?.uri ?? ""]), /53 54 49 43 4b 56 4d 2d 50 4c 41 49 4e 54 45 58/, "the user disk kept the marker");
  // the volatile system changes and the local disk did not survive the session
  run("qemu-io", ["-f", "raw", "-c", `read -P 0 ${MiB} 4800`, s.exports.get("local")?.uri ?? ""]);
  run("qemu-img", ["compare", "-f", "raw", "-F", "raw", image, s.exports.get("system")?.uri ?? ""]);

  assert.equal(await s.stop(), 0, s.output());
  await assert.rejects(stat(socket), "the socket is removed");
  await assert.rejects(stat(join(stick, "stickvm.lock")), "the lock is released");
  // the restart finished the killed session's wipe from the stick's residue journal, and wiped its own at the end
  assert.match(s.output(), /finished the wipe of an earlier session that did not end cleanly: [1-9]\d* of \d+ folders/);
  assert.match(s.output(), /wiped this session's files on the host/);
  assert.deepEqual(await readdir(hostTmp), [], "nothing of either session is left in the temp folder");
});

const noFio = ["fio", "nbdcopy", "qemu-io"].filter((t) => !haveTool(t));

test("persistent system changes survive a restart; fio verifies and nbdcopy copies on every export", { skip: noFio.length > 0 ? `not installed: ${noFio.join(", ")}` : false }, async (t) => {
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: 4 * MiB }, { zeros: 12 * MiB }]);
  const policyFile = join(dir, "policy.json");
  await writeFile(policyFile, JSON.stringify({ systemChanges: "persistent", systemChangesSize: "8M" }));
  const stick = join(dir, "stick");
  await fastBuild({ image, out: stick, signingKey: await adminKey(dir), userSize: 32 * MiB, localSize: 16 * MiB, policy: policyFile });
  const socket = join(dir, "nbd.sock");

  let s = await serve(["--stick", stick, "--socket", socket]);
  t.after(() => s.proc.kill("SIGKILL"));
  const uri = (name: string): string => s.exports.get(name)?.uri ?? "";
  for (const name of ["user", "local", "system"]) {
    run("fio", [
      "--name=verify", "--ioengine=nbd", `--uri=${uri(name)}`, "--rw=randrw", "--bsrange=4k-1m", "--size=8m", "--iodepth=8",
      "--verify=crc32c", "--verify_fatal=1", "--verify_state_save=0", "--fsync=16", "--runtime=5", `--directory=${dir}`,
    ]);
  }
  // nbdcopy into the user disk and back out
  const blob = join(dir, "blob.raw");
  await writeFile(blob, randomBytes(3 * MiB));
  run("nbdcopy", [blob, uri("user")]);
  const back = join(dir, "back.raw");
  run("nbdcopy", [uri("user"), back]);
  assert.ok((await readFile(back)).subarray(0, 3 * MiB).equals(await readFile(blob)));

  run("qemu-io", ["-f", "raw", "-c", "write -P 0x77 5000 20000", "-c", "flush", uri("system")]);
  assert.equal(await s.stop(), 0, s.output());
  s = await serve(["--stick", stick, "--socket", socket]);
  run("qemu-io", ["-f", "raw", "-c", "read -P 0x77 5000 20000", uri("system")]);
  // the base itself is untouched: make-stick verify still passes
  assert.equal(await s.stop(), 0, s.output());
  const verify = spawnSync(process.execPath, [join(REPO_ROOT, "dist", "scripts", "make-stick.js"), "verify", "--stick", stick], {
    encoding: "utf8",
    env: { ...process.env, STICKVM_PASSPHRASE: PASSPHRASE },
  });
  assert.equal(verify.status, 0, verify.stdout + verify.stderr);
  assert.ok((await readdir(stick)).includes("system-changes-00000001"));
});
