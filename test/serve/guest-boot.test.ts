// The end-to-end check: a Linux guest boots in QEMU with stickvm's three exports
// attached by their serials; what it writes to the user disk survives into a second
// session, what it writes to the system disk (volatile) does not.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { test } from "node:test";
import { bootGuest, buildTestGuest, guestCacheDir, guestDiskPath, missingCommands, SERIALS } from "../helpers/guest.js";
import { serve } from "../helpers/serve.js";
import { adminKey, fastBuild, tempDir, writeImage } from "../helpers/sticks.js";

const MiB = 1024 * 1024;
const missing = missingCommands(["qemu-system-x86_64"]);
const skip = missing.length > 0 ? "needs qemu-system-x86_64 (Debian: qemu-system-x86)" : false;

test("a guest's user-disk file survives a second boot; its system-disk change does not", { skip, timeout: 10 * 60_000 }, async (t) => {
  const guest = await buildTestGuest(guestCacheDir());
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: 2 * MiB }, { zeros: 14 * MiB }]);
  const stick = join(dir, "stick");
  await fastBuild({ image, out: stick, signingKey: await adminKey(dir), userSize: 64 * MiB, localSize: 16 * MiB });
  const socket = join(dir, "nbd.sock");
  const marker = `stickvm-${randomBytes(8).toString("hex")}`;
  const user = guestDiskPath(SERIALS.user);
  const system = guestDiskPath(SERIALS.system);
  const local = guestDiskPath(SERIALS.local);

  const session = async (script: string): Promise<{ output: string; status: number }> => {
    const s = await serve(["--stick", stick, "--socket", socket]);
    try {
      const disks = (["system", "user", "local"] as const).map((name) => ({ serial: SERIALS[name], nbdUri: s.exports.get(name)?.uri ?? "" }));
      const r = await bootGuest({ ...guest, disks, script, timeoutMs: 90_000 });
      return { output: r.output, status: r.status };
    } finally {
      assert.equal(await s.stop(), 0, s.output());
    }
  };

  const first = await session(`set -e
mke2fs ${user} >/dev/null
mount -t ext4 ${user} /mnt
echo ${marker} > /mnt/kept
umount /mnt
printf '%s' ${marker} | dd of=${system} bs=1M seek=4 2>/dev/null
printf '%s' ${marker} | dd of=${local} bs=1M seek=4 2>/dev/null
sync
echo done`);
  assert.deepEqual(first, { output: "done\n", status: 0 });

  const second = await session(`mount -t ext4 -o ro ${user} /mnt && cat /mnt/kept
dd if=${system} bs=1M skip=4 count=1 2>/dev/null | head -c ${marker.length} | od -An -tx1 | head -1
dd if=${local} bs=1M skip=4 count=1 2>/dev/null | head -c ${marker.length} | od -An -tx1 | head -1`);
  const zeros = ` ${"00 ".repeat(16).trim()}`;
  assert.equal(second.status, 0, second.output);
  assert.deepEqual(second.output.split("\n").slice(0, 3), [marker, zeros, zeros]);
});
