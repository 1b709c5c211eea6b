// The test guest itself, end to end without stickvm's server: nbdkit's memory plugin serves
// the user disk; one boot writes to it, a second boot (a fresh VM) reads it back.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { bootGuest, buildTestGuest, guestCacheDir, guestDiskPath, missingCommands, SERIALS } from "../helpers/guest.js";

const missing = missingCommands(["qemu-system-x86_64", "nbdkit"]);
const skip = missing.length > 0 ? `needs ${missing.join(" and ")} (Debian: qemu-system-x86, nbdkit)` : false;

// The first run downloads and unpacks Debian's kernel; later runs take the cached build.
test("the test guest writes a disk over NBD and a second boot reads it back", { skip, timeout: 10 * 60_000 }, async (t) => {
  const guest = await buildTestGuest(guestCacheDir());
  const dir = await mkdtemp(join(tmpdir(), "stickvm-guest-smoke-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const socket = join(dir, "nbd.sock");
  const nbdkit = spawn("nbdkit", ["--unix", socket, "--foreground", "--exit-with-parent", "memory", "64M"], { stdio: "ignore" });
  t.after(() => { nbdkit.kill(); });
  for (let i = 0; !existsSync(socket); i++) {
    assert.ok(i < 100 && nbdkit.exitCode === null, "nbdkit did not start");
    await sleep(50);
  }
  const disks = [{ serial: SERIALS.user, nbdUri: `nbd+unix:///?socket=${socket}` }];
  const disk = guestDiskPath(SERIALS.user);
  const marker = `stickvm-${randomBytes(8).toString("hex")}`;
  const timeoutMs = 60_000;

  // A raw marker 48 MiB in, and a file on an ext2 filesystem in the first 32 MiB.
  const write = await bootGuest({
    ...guest, disks, timeoutMs,
    script: `set -e
printf '%s' ${marker} | dd of=${disk} bs=1M seek=48 2>/dev/null
mke2fs ${disk} 32768 >/dev/null
mount -t ext4 ${disk} /mnt
echo ${marker} > /mnt/marker
umount /mnt
echo written`,
  });
  assert.deepEqual({ output: write.output, status: write.status }, { output: "written\n", status: 0 }, write.console);

  // The status comes back too: the script ends with 7.
  const read = await bootGuest({
    ...guest, disks, timeoutMs,
    script: `dd if=${disk} bs=1M skip=48 count=1 2>/dev/null | head -c ${marker.length}; echo
mount -t ext4 -o ro ${disk} /mnt && cat /mnt/marker
exit 7`,
  });
  assert.deepEqual({ output: read.output, status: read.status }, { output: `${marker}\n${marker}\n`, status: 7 }, read.console);
});
