// The demo guest for real, under QEMU's TCG, driven through its serial console as a user at the
// launcher's terminal would: the user disk is formatted once and keeps its files across boots,
// the system disk's changes vanish (snapshot=on stands in for the volatile layer), and both a
// typed poweroff and QMP's system_powerdown (the ACPI power button) stop it cleanly.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { truncate, writeFile } from "node:fs/promises";
import { createConnection } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { hasBusyboxStatic } from "../../src/demo/busybox.js";
import { buildDemoGuest, DEMO_PROMPT, DEMO_READY_LINE, type DemoGuest } from "../../src/demo/demo-guest.js";
import { DISK_SERIALS } from "../../src/player/qemu-args.js";
import { guestCacheDir, missingCommands } from "../helpers/guest.js";
import { tempDir } from "../helpers/sticks.js";

const MiB = 1024 * 1024;
const why = [
  ...missingCommands(["qemu-system-x86_64"]).map(() => "qemu-system-x86_64 (Debian: qemu-system-x86)"),
  ...(hasBusyboxStatic() ? [] : ["Debian's busybox-static"]),
];
const skip = why.length > 0 ? `needs ${why.join(" and ")}` : false;
const BOOT_MS = 180_000;
const STOP_MS = 30_000;

interface Vm {
  /** Resolves once the console (\r\n turned into \n) matches; rejects after `ms` or if QEMU exits. */
  waitFor: (pattern: RegExp, ms: number) => Promise<RegExpExecArray>;
  /** Types a line at the console. */
  type: (line: string) => void;
  /** QEMU's exit status, or a rejection after `ms` (QEMU is then killed). */
  exit: (ms: number) => Promise<number | null>;
  console: () => string;
  startedAt: number;
}

function startVm(guest: DemoGuest, disks: { system: string; user: string; local: string }, qmp?: string): Vm {
  const drive = (id: string, file: string, serial: string, extra = ""): string[] => [
    "-drive", `file=${file},format=raw,if=none,id=${id}${extra}`, "-device", `virtio-blk-pci,drive=${id},serial=${serial}`,
  ];
  const qemu = spawn("qemu-system-x86_64", [
    "-machine", "q35,accel=tcg", "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio",
    "-no-reboot", "-m", "256", "-kernel", guest.kernel, "-initrd", guest.initrd, "-append", guest.append,
    ...drive("system", disks.system, DISK_SERIALS.system, ",snapshot=on"),
    ...drive("user", disks.user, DISK_SERIALS.user),
    ...drive("local", disks.local, DISK_SERIALS.local),
    ...(qmp === undefined ? [] : ["-qmp", `unix:${qmp},server=on,wait=off`]),
  ], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  qemu.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  qemu.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const closed = once(qemu, "close") as Promise<[number | null]>;
  const text = (): string => out.replaceAll("\r\n", "\n");
  const fail = (why: string): Error => new Error(`${why}\nqemu stderr: ${err.trim()}\nconsole:\n${text().slice(-3000)}`);
  return {
    startedAt: Date.now(),
    console: text,
    type: (line) => { qemu.stdin.write(`${line}\n`); },
    waitFor: async (pattern, ms) => {
      const until = Date.now() + ms;
      for (;;) {
        const m = pattern.exec(text());
        if (m !== null) return m;
        if (qemu.exitCode !== null) throw fail(`QEMU exited (${qemu.exitCode}) before the console showed ${pattern}`);
        if (Date.now() > until) throw fail(`the console did not show ${pattern} within ${ms} ms`);
        await sleep(100);
      }
    },
    exit: async (ms) => {
      const timer = setTimeout(() => { qemu.kill("SIGKILL"); }, ms);
      const [code] = await closed.finally(() => { clearTimeout(timer); });
      if (qemu.signalCode !== null) throw fail(`the guest did not power off within ${ms} ms`);
      return code;
    },
  };
}

/** Asks QEMU, over its QMP socket, to press the ACPI power button. */
async function pressPowerButton(socket: string): Promise<void> {
  const qmp = createConnection(socket);
  let got = "";
  qmp.setEncoding("utf8").on("data", (d: string) => (got += d));
  const reply = async (n: number): Promise<void> => {
    while ((got.match(/"return"/g) ?? []).length < n) await sleep(50);
  };
  await once(qmp, "connect");
  qmp.write('{"execute":"qmp_capabilities"}\n');
  await reply(1);
  qmp.write('{"execute":"system_powerdown"}\n');
  await reply(2);
  qmp.end();
}

/** The user disk's filesystem: its UUID and whether e2fsck finds it clean without changing it. */
function userFs(file: string): { uuid: string | undefined; clean: boolean; fsck: string } {
  const head = spawnSync("dumpe2fs", ["-h", file], { encoding: "utf8" }).stdout;
  const fsck = spawnSync("e2fsck", ["-fn", file], { encoding: "utf8" });
  return {
    uuid: /^Filesystem UUID:\s*(\S+)/m.exec(head)?.[1],
    clean: /^Filesystem state:\s*clean$/m.test(head) && fsck.status === 0,
    fsck: fsck.stdout + fsck.stderr,
  };
}

function readFromFs(file: string, path: string): string {
  return spawnSync("debugfs", ["-R", `cat ${path}`, file], { encoding: "utf8" }).stdout;
}

const prompt = new RegExp(`${DEMO_READY_LINE}\\n[^]*${DEMO_PROMPT.replace(/[$/]/g, "\\$&")}`);

test("the demo guest keeps /home across boots, forgets the rest, and stops cleanly at poweroff and at the power button", { skip, timeout: 15 * 60_000 }, async (t) => {
  const guest = await buildDemoGuest(guestCacheDir());
  const dir = await tempDir(t);
  const disks = { system: guest.systemImage, user: join(dir, "user.raw"), local: join(dir, "local.raw") };
  // Sparse and blank, as a new stick's user disk and a session's local disk are.
  for (const [file, bytes] of [[disks.user, 128 * MiB], [disks.local, 64 * MiB]] as const) {
    await writeFile(file, "");
    await truncate(file, bytes);
  }

  // Boot 1: a blank user disk is formatted; a file in /home and one outside it, then poweroff.
  const first = startVm(guest, disks);
  await first.waitFor(prompt, BOOT_MS);
  t.diagnostic(`boot 1 (formatting the user disk): ready after ${Date.now() - first.startedAt} ms`);
  assert.match(first.console(), /first boot: formatting the user disk/);
  first.type("echo m1 > /home/marker; echo x > /root/outside; poweroff");
  assert.equal(await first.exit(STOP_MS), 0);
  const formatted = userFs(disks.user);
  assert.ok(formatted.clean, `user disk not clean after poweroff:\n${formatted.fsck}`);
  assert.ok(formatted.uuid !== undefined);

  // Boot 2: /home is the same filesystem with the file; the change outside it is gone; exit stops.
  const second = startVm(guest, disks);
  await second.waitFor(prompt, BOOT_MS);
  t.diagnostic(`boot 2: ready after ${Date.now() - second.startedAt} ms`);
  second.type('echo "result:$(cat /home/marker):$(ls -A /root | wc -l):$(grep -c /dev/vd /proc/swaps)"; exit');
  const [, marker, outside, swaps] = await second.waitFor(/^result:(.*):(\d+):(\d+)$/m, STOP_MS);
  assert.deepEqual({ marker, outside, swaps }, { marker: "m1", outside: "0", swaps: "1" });
  assert.equal(await second.exit(STOP_MS), 0);
  assert.doesNotMatch(second.console(), /formatting/);
  assert.equal(userFs(disks.user).uuid, formatted.uuid, "the user disk was reformatted");

  // Boot 3: QMP's system_powerdown presses the ACPI power button; a file written just before
  // it without a sync must be on the disk, and the filesystem clean.
  const qmp = join(dir, "qmp.sock");
  const third = startVm(guest, disks, qmp);
  await third.waitFor(prompt, BOOT_MS);
  third.type("echo m3 > /home/late; echo typed");
  await third.waitFor(/^typed$/m, STOP_MS);
  const pressed = Date.now();
  await pressPowerButton(qmp);
  assert.equal(await third.exit(STOP_MS), 0);
  t.diagnostic(`power button to QEMU's exit: ${Date.now() - pressed} ms`);
  assert.match(third.console(), /stickvm-demo: stopping/);
  const after = userFs(disks.user);
  assert.ok(after.clean, `user disk not clean after the power button:\n${after.fsck}`);
  assert.equal(after.uuid, formatted.uuid);
  assert.equal(readFromFs(disks.user, "/late"), "m3\n");
  assert.equal(readFromFs(disks.user, "/marker"), "m1\n");
});
