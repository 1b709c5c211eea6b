// The single executables: one build of all four (cached Node binaries, see scripts/exe/),
// the Linux one run for real, the others checked for structure.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmod, copyFile, link, mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { buildExecutables, defaultCacheDir, nodeBinary, TARGETS, type BuiltExe } from "../../scripts/exe/build-exe.js";
import { seaLayout } from "../../scripts/exe/structure.js";
import { runClient as run, serve } from "../helpers/serve.js";
import { adminKey, fastBuild, haveTool, REPO_ROOT, tempDir, writeImage } from "../helpers/sticks.js";

const MiB = 1024 * 1024;
const missing = ["nbdcopy", "qemu-img", "osslsigncode"].filter((t) => !haveTool(t));
const skip =
  process.platform !== "linux" || process.arch !== "x64" ? "builds on linux-x64 only" : missing.length > 0 ? `not installed: ${missing.join(", ")}` : false;

let outDir = "";
let built: BuiltExe[] = [];

function exe(name: string): BuiltExe {
  const b = built.find((e) => e.target.name === name);
  assert.ok(b, `${name} was built`);
  return b;
}

before(async () => {
  if (skip !== false) return;
  outDir = await mkdtemp(join(tmpdir(), "stickvm-exe-test-"));
  built = await buildExecutables({ distDir: join(REPO_ROOT, "dist"), outDir, targets: TARGETS });
});

after(async () => {
  if (outDir !== "") await rm(outDir, { recursive: true, force: true });
});

test("the Linux executable runs its CLI without Node or dist/ next to it", { skip }, () => {
  const r = spawnSync(exe("linux-x64").path, ["--help"], { encoding: "utf8", cwd: tmpdir() });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Usage: stickvm/);
  assert.match(r.stdout, /serve \[options\]/);
  assert.equal(r.stderr, "", "no experimental-SEA warning");
});

test("the Linux executable serves a stick from its own folder: the system disk byte for byte through its worker threads", { skip }, async (t) => {
  const dir = await tempDir(t);
  const { path: image, bytes } = await writeImage(dir, [{ random: 3 * MiB }, { zeros: MiB }, { random: 2 * MiB + 4096 }]);
  const stick = join(dir, "stick");
  await fastBuild({ image, out: stick, signingKey: await adminKey(dir) });
  // on the stick, as it ships: --stick defaults to the executable's folder
  const launcher = join(stick, "stickvm-linux-x64");
  await link(exe("linux-x64").path, launcher);
  const s = await serve(["--socket", join(dir, "nbd.sock")], { TMPDIR: dir }, [launcher]);
  t.after(() => s.proc.kill("SIGKILL"));
  const copy = join(dir, "system.raw");
  run("nbdcopy", [s.exports.get("system")?.uri ?? "", copy]);
  assert.ok((await readFile(copy)).equals(bytes), "the system export is the image");
  run("qemu-img", ["compare", "-f", "raw", "-F", "raw", image, s.exports.get("system")?.uri ?? ""]);
  assert.equal(await s.stop(), 0, s.output());
});

test("every executable is a valid PE, Mach-O or ELF for its CPU holding the one SEA blob, fuse flipped, no stale signature", { skip }, async () => {
  const blob = seaLayout(await readFile(exe("linux-x64").path)).blob;
  assert.ok(blob !== undefined && blob.length > 0);
  for (const target of TARGETS) {
    const layout = seaLayout(await readFile(exe(target.name).path));
    assert.equal(layout.format, target.format, target.name);
    assert.equal(layout.arch, target.arch, target.name);
    assert.ok(layout.fuseFlipped, `${target.name}: fuse flipped`);
    assert.ok(layout.blob?.equals(blob), `${target.name}: holds the blob`);
    assert.equal(layout.codeSignature, false, `${target.name}: no signature left that injection broke`);
    // the untouched binary reads as the same format with no blob: the check can fail
    const original = seaLayout(await readFile(await nodeBinary(target, defaultCacheDir())));
    assert.equal(original.format, target.format);
    assert.equal(original.blob, undefined);
    assert.equal(original.fuseFlipped, false);
  }
  assert.ok(seaLayout(await readFile(await nodeBinary(exe("win-x64").target, defaultCacheDir()))).codeSignature, "node.exe ships signed");
  const broken = Buffer.from(await readFile(exe("win-x64").path));
  broken.writeUInt32LE(0, broken.readUInt32LE(0x3c));
  assert.throws(() => seaLayout(broken), /PE signature/);
});

test("sh run.sh starts the stick's launcher from a RAM-backed folder, even on a noexec mount, and removes the copy", { skip }, async (t) => {
  const dir = await tempDir(t);
  // the stick on a tmpfs mounted noexec, as FAT sticks often are (needs root; else a plain folder)
  const mountPoint = join(dir, "usb");
  await mkdir(mountPoint);
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "noexec,size=512m", "tmpfs", mountPoint]).status === 0;
  if (!mounted) t.diagnostic("could not mount a noexec tmpfs (not root?): the stick is a plain folder");
  try {
    await runShOnStick(dir, join(mountPoint, "stick"), mounted);
  } finally {
    // before the temporary folder is removed
    if (mounted) spawnSync("umount", [mountPoint]);
  }
});

async function runShOnStick(dir: string, stick: string, noexec: boolean): Promise<void> {
  const { path: image } = await writeImage(dir, [{ random: MiB }]);
  await fastBuild({ image, out: stick, signingKey: await adminKey(dir) });
  await copyFile(exe("linux-x64").path, join(stick, "stickvm-linux-x64"));
  await chmod(join(stick, "stickvm-linux-x64"), 0o755);
  if (noexec) assert.notEqual(spawnSync(join(stick, "stickvm-linux-x64"), ["--version"]).status, 0, "the mount really is noexec");

  const runtime = join(dir, "runtime");
  await mkdir(runtime);
  const r = spawnSync("sh", [join(stick, "run.sh"), "host", "--json"], { encoding: "utf8", env: { PATH: process.env.PATH, HOME: dir, XDG_RUNTIME_DIR: runtime } });
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { stick: { path: string }; hostId: { id: string | null } };
  assert.equal(report.stick.path, stick, "run.sh passes its own folder as --stick");
  assert.match(report.hostId.id ?? "", /^[0-9a-f]{32}$/, "the launcher read this stick's header");
  assert.deepEqual(await readdir(runtime), [], "the copy in the RAM folder is gone");
}
