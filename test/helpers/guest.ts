// A tiny Linux test guest: Debian's kernel and a busybox initramfs, booted in QEMU with disks
// served over NBD, running one shell script and reporting its output and exit status.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

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
const BUSYBOX = "/bin/busybox";
// Load order, dependencies first: virtio for the disks, ext4 so scripts can use a filesystem.
const MODULES = [
  "virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci", "virtio_blk",
  "crc16", "mbcache", "jbd2", "crc32c_generic", "ext4",
];

export interface TestGuest {
  kernel: string;
  initrd: string;
}

/**
 * Builds (once) Debian's current kernel and a busybox initramfs running test/guest/init.sh.
 * A build is cached in `cacheDir` under the kernel's package and version plus a hash of what
 * went into it (init.sh, busybox, this helper's code); a later call reuses it without asking
 * apt (which takes seconds), so delete the folder to pick up a newer kernel.
 */
export async function buildTestGuest(cacheDir: string): Promise<TestGuest> {
  if (spawnSync("dpkg-query", ["-W", "busybox-static"], { stdio: "ignore" }).status !== 0) {
    throw new Error("the test guest needs Debian's busybox-static package (apt-get install busybox-static)");
  }
  const init = await readFile(INIT_SCRIPT);
  const busybox = await readFile(BUSYBOX);
  const hash = createHash("sha256").update(await readFile(SELF)).update(init).update(busybox).digest("hex").slice(0, 12);
  await mkdir(cacheDir, { recursive: true });
  const cached = await newestBuild(cacheDir, `-${hash}`);
  if (cached !== undefined) return guestIn(cached);

  const work = await mkdtemp(join(cacheDir, ".build-"));
  try {
    const { deb, name } = await downloadKernel(work);
    const root = join(work, "root");
    run("dpkg-deb", ["-x", deb, root]);
    const out = join(work, "out");
    await mkdir(out);
    const boot = join(root, "boot");
    const vmlinuz = (await readdir(boot)).find((f) => f.startsWith("vmlinuz-"));
    if (vmlinuz === undefined) throw new Error(`${basename(deb)} has no boot/vmlinuz-*`);
    await writeFile(join(out, "kernel"), uncompressedKernel(await readFile(join(boot, vmlinuz))));
    const modules = await moduleFiles(join(root, "lib", "modules"));
    await writeFile(join(out, "initrd.gz"), gzipSync(newc(await initramfsEntries(init, busybox, modules))));
    const target = join(cacheDir, `${name}-${hash}`);
    // The rename publishes a complete build at once; a concurrent builder may have won the race.
    await rename(out, target).catch((e: unknown) => {
      if (!isErrno(e, "ENOTEMPTY") && !isErrno(e, "EEXIST")) throw e;
    });
    return guestIn(target);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function guestIn(dir: string): TestGuest {
  return { kernel: join(dir, "kernel"), initrd: join(dir, "initrd.gz") };
}

async function newestBuild(cacheDir: string, suffix: string): Promise<string | undefined> {
  let best: { dir: string; mtime: number } | undefined;
  for (const entry of await readdir(cacheDir)) {
    if (entry.startsWith(".") || !entry.endsWith(suffix)) continue;
    const dir = join(cacheDir, entry);
    const { mtimeMs } = await stat(dir);
    if (best === undefined || mtimeMs > best.mtime) best = { dir, mtime: mtimeMs };
  }
  return best?.dir;
}

/** Downloads the package linux-image-amd64 depends on; refreshes apt's lists only if that fails. */
async function downloadKernel(dir: string): Promise<{ deb: string; name: string }> {
  const attempt = async (): Promise<{ deb: string; name: string } | string> => {
    const show = spawnSync("apt-cache", ["show", "--no-all-versions", "linux-image-amd64"], { encoding: "utf8" });
    const dep = /^Depends:.*?\b(linux-image-[^\s,(]+)\s*\(= ([^)\s]+)\)/m.exec(show.stdout);
    if (dep?.[1] === undefined || dep[2] === undefined) return `apt-cache show linux-image-amd64: ${show.stderr || "no versioned kernel dependency"}`;
    const pkg = dep[1];
    const version = dep[2];
    const got = spawnSync("apt-get", ["download", `${pkg}=${version}`], { cwd: dir, encoding: "utf8" });
    if (got.status !== 0) return `apt-get download ${pkg}=${version}: ${got.stderr}`;
    const deb = (await readdir(dir)).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"));
    if (deb === undefined) return `apt-get download ${pkg} left no .deb`;
    return { deb: join(dir, deb), name: `${pkg}_${version}` };
  };
  const first = await attempt();
  if (typeof first !== "string") return first;
  const update = process.getuid?.() === 0
    ? spawnSync("apt-get", ["update"], { encoding: "utf8" })
    : spawnSync("sudo", ["-n", "apt-get", "update"], { encoding: "utf8" });
  const second = await attempt();
  if (typeof second !== "string") return second;
  throw new Error(`cannot download Debian's kernel: ${first.trim()}; after apt-get update (${update.stderr.trim() || `status ${update.status}`}): ${second.trim()}`);
}

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

/**
 * Debian's bzImage wraps an xz-compressed ELF vmlinux, which QEMU boots directly (PVH): that
 * skips decompressing the kernel, which takes seconds under TCG. Other kernels stay as they are.
 */
function uncompressedKernel(bzImage: Buffer): Buffer {
  const at = bzImage.indexOf(XZ_MAGIC);
  if (at < 0) return bzImage;
  const elf = run("xz", ["-dc", "--single-stream"], bzImage.subarray(at));
  return elf.subarray(0, 4).equals(ELF_MAGIC) ? elf : bzImage;
}

/** Finds each module of MODULES under lib/modules/<release>/kernel, as .ko or .ko.xz. */
async function moduleFiles(modulesDir: string): Promise<Map<string, string>> {
  const releases = await readdir(modulesDir);
  const release = releases[0];
  if (release === undefined || releases.length !== 1) throw new Error(`expected one kernel release in ${modulesDir}, found ${releases.join(", ")}`);
  const found = new Map<string, string>();
  const files = await readdir(join(modulesDir, release, "kernel"), { recursive: true });
  for (const file of files) {
    const name = /([^/]+)\.ko(\.xz)?$/.exec(file)?.[1];
    if (name !== undefined && MODULES.includes(name)) found.set(name, join(modulesDir, release, "kernel", file));
  }
  const missing = MODULES.filter((m) => !found.has(m));
  if (missing.length > 0) throw new Error(`kernel ${release} lacks modules ${missing.join(", ")}`);
  return found;
}

async function initramfsEntries(init: Buffer, busybox: Buffer, modules: Map<string, string>): Promise<CpioEntry[]> {
  const dir = (name: string): CpioEntry => ({ name, mode: S_IFDIR | 0o755, data: Buffer.alloc(0) });
  const file = (name: string, data: Buffer, perm = 0o644): CpioEntry => ({ name, mode: S_IFREG | perm, data });
  const entries = [
    ...["bin", "dev", "proc", "sys", "tmp", "mnt", "lib", "lib/modules"].map(dir),
    // The kernel opens /dev/console for init's stdio before init can mount devtmpfs.
    { name: "dev/console", mode: S_IFCHR | 0o600, data: Buffer.alloc(0), rdev: [5, 1] as const },
    file("bin/busybox", busybox, 0o755),
    file("init", init, 0o755),
    file("lib/modules/order", Buffer.from(MODULES.join("\n") + "\n")),
  ];
  for (const [name, path] of modules) {
    const data = path.endsWith(".xz") ? run("xz", ["-dc", path]) : await readFile(path);
    entries.push(file(`lib/modules/${name}.ko`, data));
  }
  return entries;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

interface CpioEntry {
  name: string;
  mode: number;
  data: Buffer;
  rdev?: readonly [number, number];
}

/** A cpio archive in the "newc" format the kernel unpacks as an initramfs; owner root, mtime 0. */
function newc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);
  const record = (ino: number, e: CpioEntry): void => {
    const name = Buffer.from(e.name + "\0");
    const fields = [ino, e.mode, 0, 0, (e.mode & 0o170000) === S_IFDIR ? 2 : 1, 0, e.data.length, 0, 0, e.rdev?.[0] ?? 0, e.rdev?.[1] ?? 0, name.length, 0];
    const header = Buffer.from("070701" + fields.map((f) => f.toString(16).padStart(8, "0")).join(""));
    parts.push(header, name, pad4(header.length + name.length), e.data, pad4(e.data.length));
  };
  entries.forEach((e, i) => { record(i + 1, e); });
  record(0, { name: "TRAILER!!!", mode: 0, data: Buffer.alloc(0) });
  return Buffer.concat(parts);
}

function run(cmd: string, args: string[], input?: Buffer): Buffer {
  const r = spawnSync(cmd, args, { maxBuffer: 256 * 1024 * 1024, ...(input === undefined ? {} : { input }) });
  if (r.error !== undefined) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr.toString().trim()}`);
  return r.stdout;
}

function isErrno(e: unknown, code: string): boolean {
  return e instanceof Error && "code" in e && e.code === code;
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
