import assert from "node:assert/strict";
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { test } from "node:test";
import type { Player } from "../../src/player/find-player.js";
import type { PlayerManifest } from "../../src/player/player-manifest.js";
import { playerCommand } from "../../src/player/start-player.js";
import { copyPlayerForExec, executableFiles } from "../../src/run/player-exec-copy.js";
import { tempDir } from "../helpers/sticks.js";

const FILES = ["lib/ld-linux-x86-64.so.2", "lib/libc.so.6", "bin/qemu-system-x86_64", "modules/accel-tcg-x86_64.so", "firmware/qemu/bios.bin", "player.json.txt"];

test("a player on a noexec stick: its loader, binary, libraries and modules are copied and run from the copy; firmware stays", async (t) => {
  const dir = await tempDir(t);
  const stickPlayer = join(dir, "stick", "players", "linux-x64");
  for (const f of FILES) {
    await mkdir(dirname(join(stickPlayer, f)), { recursive: true });
    // mode 0644: as a showexec mount shows the loader
    await writeFile(join(stickPlayer, f), f, { mode: 0o644 });
  }
  const manifest: PlayerManifest = {
    version: 1, target: "linux-x64", qemuVersion: "QEMU emulator version 7.2",
    loader: "lib/ld-linux-x86-64.so.2", libraryDir: "lib", binary: "bin/qemu-system-x86_64", moduleDir: "modules", firmwareDirs: ["firmware/qemu"],
    files: FILES.map((path) => ({ path, size: path.length, sha256: "0".repeat(64) })),
  };
  const player: Extract<Player, { kind: "stick" }> = { kind: "stick", dir: stickPlayer, manifest };
  assert.deepEqual(executableFiles(player).sort(), ["bin/qemu-system-x86_64", "lib/ld-linux-x86-64.so.2", "lib/libc.so.6", "modules/accel-tcg-x86_64.so"]);

  const ram = join(dir, "run", "player");
  const copied = await copyPlayerForExec(player, ram);
  assert.deepEqual((await readdir(ram, { recursive: true })).sort(), ["bin", "bin/qemu-system-x86_64", "lib", "lib/ld-linux-x86-64.so.2", "lib/libc.so.6", "modules", "modules/accel-tcg-x86_64.so"]);
  assert.equal((await stat(join(ram, "lib", "ld-linux-x86-64.so.2"))).mode & 0o777, 0o700);

  const cmd = playerCommand(copied, ["-version"], {});
  assert.equal(cmd.command, join(ram, "lib", "ld-linux-x86-64.so.2"));
  assert.deepEqual(cmd.args, ["--library-path", join(ram, "lib"), join(ram, "bin", "qemu-system-x86_64"), "-L", join(stickPlayer, "firmware", "qemu"), "-version"]);
  assert.equal(cmd.env.QEMU_MODULE_DIR, join(ram, "modules"));

  await assert.rejects(copyPlayerForExec({ ...player, manifest: { ...manifest, files: [...manifest.files, { path: "lib/gone.so", size: 1, sha256: "0".repeat(64) }] } }, join(dir, "run2")), /gone\.so/);
});
