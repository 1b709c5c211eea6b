// make-stick build --player linux-x64=host: the build machine's QEMU with its libraries, loader,
// modules and firmware on the stick, started so that nothing is loaded from the host.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmod, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { askPlayer } from "../../src/host/player-probe.js";
import { findPlayer } from "../../src/player/find-player.js";
import { parseLdd, parsePlayerSpec } from "../../src/player/bundle.js";
import { parsePlayerManifest } from "../../src/player/player-manifest.js";
import { playerCommand, playerEnv } from "../../src/player/start-player.js";
import { probeCapabilities } from "../../src/player/player-capabilities.js";
import { missingCommands } from "../helpers/guest.js";
import { adminKey, fastBuild, tempDir, writeImage } from "../helpers/sticks.js";

const MiB = 1024 * 1024;
const skip = missingCommands(["qemu-system-x86_64"]).length > 0 ? "needs qemu-system-x86_64 (Debian: qemu-system-x86)" : false;
const LINUX_X64 = { target: "linux-x64", source: "host" } as const;

test("parseLdd: libraries by name, the loader, no vdso; a library not found fails naming it", () => {
  const found = parseLdd(
    "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f48)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f48de5bf000)\n",
    "qemu",
  );
  assert.deepEqual([...found.libraries], [["libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1"]]);
  assert.equal(found.loader, "/lib64/ld-linux-x86-64.so.2");
  assert.throws(() => parseLdd("\tlibgone.so.3 => not found\n", "m.so"), { code: "MISSING_TOOL", message: /m\.so needs libgone\.so\.3/ });
});

test("parsePlayerSpec: linux-x64=host only", () => {
  assert.deepEqual(parsePlayerSpec("linux-x64=host"), LINUX_X64);
  for (const bad of ["linux-x64", "linux-x64=/opt/qemu", "windows-x64=host", "=host"]) assert.throws(() => parsePlayerSpec(bad), { code: "USAGE" }, bad);
});

test("player manifest: paths outside the player's folder are refused", () => {
  const ok = { version: 1, target: "linux-x64", qemuVersion: "", loader: "lib/ld.so", libraryDir: "lib", binary: "bin/q", moduleDir: "modules", firmwareDirs: ["firmware/qemu"], files: [] };
  assert.equal(parsePlayerManifest(JSON.stringify(ok), "p").binary, "bin/q");
  for (const binary of ["/usr/bin/qemu", "../q", "bin/../../q", "bin\\q", ""]) {
    assert.throws(() => parsePlayerManifest(JSON.stringify({ ...ok, binary }), "p"), { code: "CORRUPT_STICK" }, binary);
  }
});

test("the bundled player starts through its own loader and maps no library from the host", { skip, timeout: 5 * 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: MiB }]);
  const stick = join(dir, "stick");
  const r = await fastBuild({ image, out: stick, signingKey: await adminKey(dir), players: [LINUX_X64] });
  const root = join(stick, "players", "linux-x64");
  assert.deepEqual((await readdir(root)).sort(), ["bin", "firmware", "lib", "modules", "player.json"]);
  const player = await findPlayer({ stick, platform: "linux", arch: "x64", allowHostPlayer: false, path: "" });
  assert.equal(player.kind, "stick");
  const m = player.manifest;
  assert.equal(r.players[0]?.files, m.files.length);
  for (const f of m.files) assert.equal((await stat(join(root, f.path))).size, f.size, f.path);
  assert.ok(m.files.some((f) => f.path === "lib/ld-linux-x86-64.so.2"));
  assert.ok(m.files.some((f) => f.path === "firmware/seabios/bios-256k.bin"));
  assert.ok(m.files.some((f) => /^modules\/accel-tcg-x86_64\.so$/.test(f.path)));
  assert.deepEqual(await probeCapabilities(player), { sandbox: true });
  const ask = askPlayer((args) => playerCommand(player, args, {}));
  assert.equal(await ask("tcg"), true, "the bundled player starts with TCG (a module) through its loader");
  assert.equal(await ask("whpx"), false, "and not with an accelerator a Linux build lacks");

  const home = join(root, "player-home");
  const cmd = playerCommand(player, ["-machine", "none", "-accel", "tcg", "-nodefaults", "-display", "none", "-sandbox", "on", "-qmp", "stdio"], playerEnv({ LD_LIBRARY_PATH: "/usr/lib", HOME: "/nowhere" }, home));
  assert.ok(!Object.keys(cmd.env).some((k) => k.startsWith("LD_")), "nothing that steers the loader");
  assert.equal(cmd.env.HOME, home);
  assert.equal(cmd.env.QEMU_MODULE_DIR?.startsWith(root), true);
  const qemu = spawn(cmd.command, cmd.args, { env: cmd.env, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  qemu.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const closed = new Promise<number | null>((resolve) => qemu.on("close", resolve));
  // the QMP greeting comes after the accelerator (a module here) is up
  await new Promise<void>((resolve, reject) => {
    qemu.stdout.setEncoding("utf8").on("data", (d: string) => {
      if (d.includes('"QMP"')) resolve();
    });
    qemu.on("close", () => {
      reject(new Error(`the bundled player exited before QMP: ${stderr}`));
    });
  });
  const maps = await readFile(`/proc/${qemu.pid ?? 0}/maps`, "utf8");
  qemu.stdin.end('{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n');
  assert.equal(await closed, 0, stderr);
  const mapped = [...new Set(maps.split("\n").map((l) => l.split(/\s+/)[5] ?? "").filter((p) => p.startsWith("/")))];
  const libraries = mapped.filter((p) => /\.so(\.|$)/.test(p));
  assert.ok(libraries.length > 20, mapped.join("\n"));
  assert.deepEqual(libraries.filter((p) => !p.startsWith(`${root}/`)), [], "libraries mapped from outside the bundle");
  assert.ok(libraries.includes(join(root, "modules", "accel-tcg-x86_64.so")), "TCG came from the bundle's modules");
  assert.ok(mapped.includes(join(root, "bin", "qemu-system-x86_64")));
});

test("a bundle that cannot be made fails the build before anything is written", { skip }, async (t) => {
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: MiB }]);
  await writeFile(join(dir, "qemu-system-x86_64"), "#!/bin/sh\necho 'QEMU emulator version 0'\n");
  await chmod(join(dir, "qemu-system-x86_64"), 0o755);
  const saved = process.env.PATH;
  process.env.PATH = `${dir}:${saved ?? ""}`;
  t.after(() => {
    process.env.PATH = saved;
  });
  const out = join(dir, "stick");
  await assert.rejects(fastBuild({ image, out, signingKey: await adminKey(dir), players: [LINUX_X64] }), { code: "MISSING_TOOL", message: /ldd/ });
  await assert.rejects(stat(out), { code: "ENOENT" });
});

test("findPlayer: no stick player, then the host's QEMU if the policy allows it, else an error that says what is missing", async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, "qemu-system-x86_64"), "#!/bin/sh\n");
  await chmod(join(dir, "qemu-system-x86_64"), 0o755);
  const o = { stick: dir, platform: "linux" as const, arch: "x64" };
  assert.deepEqual(await findPlayer({ ...o, allowHostPlayer: true, path: `/nonexistent:${dir}` }), { kind: "host", binary: join(dir, "qemu-system-x86_64") });
  await assert.rejects(findPlayer({ ...o, allowHostPlayer: false, path: dir }), { code: "NO_PLAYER", message: /no player for linux-x64 .*policy does not allow the host's QEMU/ });
  await assert.rejects(findPlayer({ ...o, allowHostPlayer: true, path: "/nonexistent" }), { code: "NO_PLAYER", message: /no qemu-system-x86_64 on this host's PATH/ });
  await assert.rejects(findPlayer({ ...o, arch: "arm64", allowHostPlayer: false }), { message: /no player for linux-arm64/ });
});
