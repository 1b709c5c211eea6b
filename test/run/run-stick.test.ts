// runStick in this process, with the test guest as the stick's boot files: over TCP (the way
// it runs on Windows) the guest boots, reads its disks and powers off; the session ends "guest".
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { join } from "node:path";
import { test } from "node:test";
import { runStick } from "../../src/run/run-stick.js";
import { buildTestGuest, guestCacheDir, missingCommands } from "../helpers/guest.js";
import { adminKey, fastBuild, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

const MiB = 1024 * 1024;
const skip = missingCommands(["qemu-system-x86_64"]).length > 0 ? "needs qemu-system-x86_64 (Debian: qemu-system-x86)" : false;

test("runStick over TCP boots the stick's kernel and initrd; the guest's power-off ends the session", { skip, timeout: 5 * 60_000 }, async (t) => {
  const guest = await buildTestGuest(guestCacheDir());
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: MiB }, { zeros: MiB }]);
  const stick = join(dir, "stick");
  const script = "cat /sys/block/vda/size /sys/block/vdb/size /sys/block/vdc/size | sort -n | tr '\\n' ' '; echo";
  await fastBuild({
    image, out: stick, signingKey: await adminKey(dir), userSize: 8 * MiB, localSize: 4 * MiB,
    boot: { kernel: guest.kernel, initrd: guest.initrd, append: `console=ttyS0 loglevel=1 panic=-1 stickvm.disks=stickvm-system,stickvm-user,stickvm-local stickvm.run=${Buffer.from(script).toString("base64")}` },
  });
  const output = new PassThrough();
  let console = "";
  output.setEncoding("utf8").on("data", (d: string) => (console += d));
  const statuses: string[] = [];
  const outcome = await runStick({
    stick,
    unlock: { passphrase: PASSPHRASE },
    headless: true,
    powerdownTimeoutMs: 10_000,
    terminal: { input: new PassThrough(), output },
    stopRequests: () => () => undefined,
    onStatus: (m) => statuses.push(m),
    onWarning: (m) => { assert.fail(`warning: ${m}`); },
    transport: "tcp",
  });
  assert.deepEqual(outcome, { stoppedBy: "guest" });
  // sizes in 512-byte sectors: local 4 MiB, system 2 MiB, user 8 MiB
  assert.match(console.replaceAll("\r\n", "\n"), /output begin=====\n4096 8192 16384 \n/, console);
  assert.ok(statuses.includes("the guest is running"), statuses.join("\n"));
});
