// A tiny Linux test guest: Debian's kernel and a busybox initramfs, booted in QEMU with disks
// served over NBD, running one shell script and reporting its output and exit status.
import { spawn, spawnSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { builderCode, cachedBuild, contentHash } from "../../src/demo/build-cache.js";
import { staticBusybox } from "../../src/demo/busybox.js";
import { fetchDebianKernel } from "../../src/demo/debian-kernel.js";
import { busyboxInitramfs } from "../../src/demo/initramfs.js";
import { DISK_MODULES, findModules } from "../../src/demo/kernel-modules.js";

/** The virtio serials stickvm gives its three exports; the guest names disks by them. */
export const SERIALS = { system: "stickvm-system", user: "stickvm-user", local: "stickvm-local" } as const;

/** Where a disk appears inside the guest. */
export function guestDiskPath(serial: string): string {
  return `/dev/disk/by-serial/${serial}`;
}

/** The kernel and initramfs cache: $STICKVM_TEST_GUEST_CACHE, else a folder in the temp dir. */
export function guestCacheDir(): string {
  return process.env.STICKVM_TEST_GUEST_CACHE ?? join(tmpdir(), "stickvm-test-guest");
}

/** The commands among `names` that cannot be run here; tests skip on these. */
export function missingCommands(names: string[]): string[] {
  return names.filter((name) => spawnSync(name, ["--version"], { stdio: "ignore" }).error !== undefined);
}

const SELF = fileURLToPath(import.meta.url);
// Read from the repository, since tsc copies only .ts (this runs from dist/test/helpers).
const INIT_SCRIPT = join(dirname(SELF), "..", "..", "..", "test", "guest", "init.sh");

export interface TestGuest {
  kernel: string;
  initrd: string;
}

/**
 * Builds (once) Debian's current kernel and a busybox initramfs running test/guest/init.sh.
 * A build is cached in `cacheDir` under the kernel's package and version plus a hash of what
 * went into it (init.sh, busybox, the builder's code); a later call reuses it without asking
 * apt (which takes seconds), so delete the folder to pick up a newer kernel.
 */
export async function buildTestGuest(cacheDir: string): Promise<TestGuest> {
  const init = await readFile(INIT_SCRIPT);
  const busybox = await staticBusybox();
  const hash = contentHash([await readFile(SELF), init, busybox, ...await builderCode()]);
  const dir = await cachedBuild(cacheDir, hash, async (work, out) => {
    const debian = await fetchDebianKernel(work);
    await writeFile(join(out, "kernel"), debian.kernel);
    const modules = await findModules(debian.modulesDir, DISK_MODULES);
    await writeFile(join(out, "initrd.gz"), await busyboxInitramfs({ init, busybox, modules }));
    return debian.name;
  });
  return { kernel: join(dir, "kernel"), initrd: join(dir, "initrd.gz") };
}

export interface GuestDisk {
  /** The virtio serial the guest finds the disk by, e.g. SERIALS.user. */
  serial: string;
  /** An NBD URI QEMU opens, e.g. nbd+unix:///user?socket=/tmp/x.sock */
  nbdUri: string;
}

export interface BootOptions extends TestGuest {
  disks: GuestDisk[];
  /** A shell script for busybox sh; disks are at guestDiskPath(serial). */
  script: string;
  timeoutMs: number;
  /**
   * Starts QEMU some other way (a stick's player, stickvm's own argv): given the kernel command
   * line, the whole command, which must boot `kernel` and `initrd` with it, attach the disks by
   * their serials, put the serial console on stdout and exit at the guest's power-off
   * (-no-reboot). By default the helper's own argv with the disks' NBD URIs.
   */
  launch?: (append: string) => { command: string; args: string[]; env: Record<string, string> };
}

export interface BootResult {
  /** What the script wrote to stdout and stderr. */
  output: string;
  /** The script's exit status; 125 if a disk did not show up. */
  status: number;
  /** The whole serial console, for diagnosing a failure. */
  console: string;
}

// $STICKVM_TEST_ACCEL picks QEMU's accelerator, e.g. kvm:tcg. TCG by default: on the machines we
// test on, /dev/kvm may exist yet hang the guest (nested KVM), and kvm:tcg would then pick it.
const ACCEL = process.env.STICKVM_TEST_ACCEL ?? "tcg";
const BEGIN = "=====stickvm-guest output begin=====\n";
const END = /\n=====stickvm-guest output end status=(\d+)=====\n/;
// x86 Linux truncates its command line at 2048 bytes.
const MAX_CMDLINE = 2047;

/**
 * Boots the guest under QEMU (TCG unless $STICKVM_TEST_ACCEL says otherwise), runs `script`,
 * and waits for the guest to power off. Throws if QEMU fails, the guest never reports, or the
 * timeout passes (QEMU is then killed); the error carries the end of the console.
 */
export async function bootGuest(o: BootOptions): Promise<BootResult> {
  for (const d of o.disks) {
    if (!/^[A-Za-z0-9._-]{1,20}$/.test(d.serial)) throw new Error(`bad virtio serial ${JSON.stringify(d.serial)}`);
  }
  // loglevel=1 keeps the kernel's chatter off the console (panics still show), which also
  // saves time under TCG.
  const append = [
    "console=ttyS0", "loglevel=1", "panic=-1",
    `stickvm.disks=${o.disks.map((d) => d.serial).join(",")}`,
    `stickvm.run=${Buffer.from(o.script).toString("base64")}`,
  ].join(" ");
  if (append.length > MAX_CMDLINE) throw new Error(`guest script too long for the kernel command line (${append.length} > ${MAX_CMDLINE} bytes)`);
  // A comma inside a QEMU option value is written as two.
  const q = (s: string): string => s.replaceAll(",", ",,");
  const args = [
    "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio",
    // -no-reboot turns the reboot after a panic (panic=-1) into an exit.
    "-no-reboot", "-machine", `accel=${ACCEL}`, "-m", "256",
    "-kernel", o.kernel, "-initrd", o.initrd, "-append", append,
    ...o.disks.flatMap((d, i) => [
      "-drive", `file=${q(d.nbdUri)},format=raw,if=none,id=d${i},cache=none`,
      "-device", `virtio-blk-pci,drive=d${i},serial=${d.serial}`,
    ]),
  ];
  const launched = o.launch?.(append);
  const qemu = launched === undefined
    ? spawn("qemu-system-x86_64", args, { stdio: ["ignore", "pipe", "pipe"] })
    : spawn(launched.command, launched.args, { env: launched.env, stdio: ["ignore", "pipe", "pipe"] });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  qemu.stdout.on("data", (b: Buffer) => stdout.push(b));
  qemu.stderr.on("data", (b: Buffer) => stderr.push(b));
  const timer = setTimeout(() => { qemu.kill("SIGKILL"); }, o.timeoutMs);
  const exit = await new Promise<{ code: number | null; error?: Error }>((resolve) => {
    qemu.on("error", (error) => { resolve({ code: null, error }); });
    qemu.on("close", (code) => { resolve({ code }); });
  }).finally(() => { clearTimeout(timer); });

  // The serial line turns each \n into \r\n.
  const serial = Buffer.concat(stdout).toString("utf8").replaceAll("\r\n", "\n");
  const fail = (why: string): Error => {
    const err = Buffer.concat(stderr).toString("utf8").trim();
    return new Error(`${why}${err ? `\nqemu stderr: ${err}` : ""}\nconsole (last 3000 chars):\n${serial.slice(-3000)}`);
  };
  if (exit.error !== undefined) throw fail(`cannot run qemu-system-x86_64: ${exit.error.message}`);
  // Only the timer kills QEMU.
  if (qemu.killed) throw fail(`guest did not power off within ${o.timeoutMs} ms`);
  if (exit.code !== 0) throw fail(`qemu-system-x86_64 exited with status ${exit.code}`);
  const begin = serial.indexOf(BEGIN);
  const start = begin + BEGIN.length;
  const end = begin < 0 ? null : END.exec(serial.slice(start));
  if (end?.[1] === undefined) throw fail("guest powered off without reporting its script's output");
  return { output: serial.slice(start, start + end.index), status: Number(end[1]), console: serial };
}
