// The player end to end: a stick built with --player linux-x64=host boots the test guest through
// the bundled QEMU with qemuArgs' argv (q35, NBD blockdevs, serials, -sandbox, QMP socket).
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { DEFAULT_PLAYER_POLICY } from "../../src/policy/player-policy.js";
import { findPlayer } from "../../src/player/find-player.js";
import { probeCapabilities } from "../../src/player/player-capabilities.js";
import { DISK_SERIALS, qemuArgs } from "../../src/player/qemu-args.js";
import { playerCommand } from "../../src/player/start-player.js";
import { bootGuest, buildTestGuest, guestCacheDir, guestDiskPath, missingCommands } from "../helpers/guest.js";
import { serve } from "../helpers/serve.js";
import { adminKey, fastBuild, tempDir, writeImage } from "../helpers/sticks.js";

const MiB = 1024 * 1024;
const skip = missingCommands(["qemu-system-x86_64"]).length > 0 ? "needs qemu-system-x86_64 (Debian: qemu-system-x86)" : false;

test("the bundled player boots a guest from qemuArgs' argv: three disks by serial, no network, the user disk writable", { skip, timeout: 10 * 60_000 }, async (t) => {
  const guest = await buildTestGuest(guestCacheDir());
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: MiB }, { zeros: 7 * MiB }]);
  const stick = join(dir, "stick");
  await fastBuild({ image, out: stick, signingKey: await adminKey(dir), userSize: 8 * MiB, localSize: 8 * MiB, players: [{ target: "linux-x64", source: "host" }] });
  const player = await findPlayer({ stick, platform: "linux", arch: "x64", players: ["linux-x64"], path: "" });
  const capabilities = await probeCapabilities(player);
  const socket = join(dir, "nbd.sock");
  const s = await serve(["--stick", stick, "--socket", socket]);
  try {
    const script = `ls /sys/class/net | grep -v '^lo$' | wc -l
printf stickvm | dd of=${guestDiskPath(DISK_SERIALS.user)} 2>/dev/null && sync
head -c 7 ${guestDiskPath(DISK_SERIALS.user)}; echo
blockdev --getsize64 ${guestDiskPath(DISK_SERIALS.system)}`;
    const r = await bootGuest({
      ...guest,
      disks: Object.values(DISK_SERIALS).map((serial) => ({ serial, nbdUri: "" })),
      script,
      timeoutMs: 120_000,
      launch: (append) =>
        playerCommand(
          player,
          [
            ...qemuArgs({
              host: { cpus: 1, freeMemoryBytes: 2048 * MiB, accelerators: ["tcg"] },
              policy: { ...DEFAULT_PLAYER_POLICY, network: "off", memoryBytes: 256 * MiB, cpus: 1 },
              nbd: { socket },
              qmp: { socket: join(dir, "qmp.sock") },
              capabilities,
              boot: { ...guest, append },
              display: "none",
            }),
            "-no-reboot",
          ],
          {},
        ),
    });
    assert.deepEqual({ output: r.output, status: r.status }, { output: `0\nstickvm\n${8 * MiB}\n`, status: 0 });
  } finally {
    assert.equal(await s.stop(), 0, s.output());
  }
});
