// A real slow stick (DESIGN section 8): an ext4 file system on a file-backed loop device, mounted,
// and a cgroup v1 blkio group that throttles reads of that device. Processes put in the group
// (and their children, threads included) read the device at USB 2 stick speed; the group's
// counters say how many bytes they read from it. A cpuacct group of the same name, where the
// host has one, counts their CPU time, so a run can tell its own work from other work.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { sleep } from "../bench-util.js";

const BLKIO = "/sys/fs/cgroup/blkio";
const CPUACCT = "/sys/fs/cgroup/cpuacct";

export interface SlowStickOptions {
  /** The loop device's backing file (on the host's disk) and its size. */
  backing: string;
  bytes: number;
  mountPoint: string;
  /** The blkio group's name under /sys/fs/cgroup/blkio. */
  group: string;
  readBytesPerSecond: number;
  readIops: number;
}

export interface SlowStick {
  mountPoint: string;
  /** The loop device, e.g. /dev/loop0, and its MAJ:MIN. */
  loop: string;
  device: string;
  /** argv that runs `argv` inside the throttled group (and the cpuacct one): `sh` writes its pid to the groups, then execs. */
  throttled: (argv: readonly string[]) => string[];
  /** Bytes the group's processes have read from the loop device so far. */
  readBytes: () => Promise<number>;
  /** CPU seconds the group's processes have used so far; undefined without a cpuacct hierarchy. */
  cpuSeconds: () => Promise<number | undefined>;
  /** Unmounts, detaches the loop device, removes the group and the backing file; tries every step. */
  close: () => Promise<void>;
}

/** Why this host cannot make a slow stick (not root, no cgroup v1 blkio throttling, no loop devices), or undefined. */
export function slowStickUnsupported(): string | undefined {
  if (process.getuid?.() !== 0) return "it must run as root (loop devices, mount, cgroups, drop_caches)";
  if (!existsSync(join(BLKIO, "blkio.throttle.read_bps_device")) || !existsSync(join(BLKIO, "blkio.throttle.read_iops_device"))) {
    return `cgroup v1 blkio throttling is not available (no ${BLKIO}/blkio.throttle.read_bps_device)`;
  }
  if (!existsSync("/dev/loop-control")) return "this kernel has no loop devices (/dev/loop-control is missing)";
  for (const tool of ["losetup", "mkfs.ext4", "mount", "umount"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status !== 0) return `${tool} is not installed`;
  }
  return undefined;
}

function sh(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

function isMounted(path: string): boolean {
  return spawnSync("mountpoint", ["-q", path]).status === 0;
}

/** Pids still in the group: only processes this benchmark put there. */
async function groupPids(group: string): Promise<number[]> {
  const text = await readFile(join(group, "cgroup.procs"), "utf8").catch(() => "");
  return text.split("\n").filter((l) => l.trim() !== "").map(Number);
}

/** Ends what a killed earlier run left behind: its processes in the group, the mount, the loop device, the group. */
async function sweep(o: SlowStickOptions, group: string, cpuGroup: string): Promise<void> {
  await killGroup(group);
  if (existsSync(o.mountPoint) && isMounted(o.mountPoint)) sh("umount", [o.mountPoint]);
  if (existsSync(o.backing)) {
    for (const line of sh("losetup", ["-j", o.backing]).split("\n")) {
      const loop = /^(\/dev\/loop\d+):/.exec(line)?.[1];
      if (loop !== undefined) sh("losetup", ["-d", loop]);
    }
  }
  for (const g of [group, cpuGroup]) if (existsSync(g)) await removeGroup(g);
}

async function killGroup(group: string): Promise<void> {
  for (const pid of await groupPids(group)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** rmdir of a cgroup fails while a process is still in it: a process that just exited may take a moment to leave. */
async function removeGroup(group: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await rmdir(group);
      return;
    } catch (err) {
      if (i >= 50) throw err;
      await sleep(100);
    }
  }
}

async function unmount(path: string): Promise<void> {
  for (let i = 0; ; i++) {
    const r = spawnSync("umount", [path], { encoding: "utf8" });
    if (r.status === 0) return;
    // busy for a moment after the last process on it exits
    if (i >= 30) throw new Error(`umount ${path}: ${r.stderr.trim()}`);
    await sleep(200);
  }
}

/**
 * Makes the slow stick: a sparse backing file, a loop device on it, ext4, mounted at
 * `mountPoint`, and the throttling group. What a killed earlier run left is cleaned up first;
 * a failure part way undoes what was done.
 */
export async function makeSlowStick(o: SlowStickOptions): Promise<SlowStick> {
  const group = join(BLKIO, o.group);
  const cpuGroup = join(CPUACCT, o.group);
  await sweep(o, group, cpuGroup);
  const undo: (() => Promise<void>)[] = [];
  const close = async (): Promise<void> => {
    const errors: unknown[] = [];
    for (const step of undo.reverse()) await step().catch((err: unknown) => errors.push(err));
    undo.length = 0;
    if (errors.length > 0) throw errors[0];
  };
  try {
    await rm(o.backing, { force: true });
    undo.push(() => rm(o.backing, { force: true }));
    execFileSync("truncate", ["-s", String(o.bytes), o.backing]);
    const loop = sh("losetup", ["--find", "--show", o.backing]);
    undo.push(() => {
      sh("losetup", ["-d", loop]);
      return Promise.resolve();
    });
    const device = (await readFile(`/sys/block/${basename(loop)}/dev`, "utf8")).trim();
    sh("mkfs.ext4", ["-q", "-F", "-L", "slowstick", loop]);
    await mkdir(o.mountPoint, { recursive: true });
    sh("mount", [loop, o.mountPoint]);
    undo.push(() => unmount(o.mountPoint));
    await mkdir(group);
    undo.push(async () => {
      await killGroup(group);
      await removeGroup(group);
    });
    const counting = existsSync(CPUACCT);
    if (counting) {
      await mkdir(cpuGroup);
      undo.push(async () => {
        await killGroup(cpuGroup);
        await removeGroup(cpuGroup);
      });
    }
    await writeFile(join(group, "blkio.throttle.read_bps_device"), `${device} ${String(o.readBytesPerSecond)}\n`);
    await writeFile(join(group, "blkio.throttle.read_iops_device"), `${device} ${String(o.readIops)}\n`);
    const procs = join(group, "cgroup.procs");
    const cpuProcs = counting ? join(cpuGroup, "cgroup.procs") : "/dev/null";
    return {
      mountPoint: o.mountPoint,
      loop,
      device,
      // $0 and $1 are the procs files; the command follows
      throttled: (argv) => ["sh", "-c", 'echo $$ > "$0" && echo $$ > "$1" && shift && exec "$@"', procs, cpuProcs, ...argv],
      readBytes: async () => {
        const text = await readFile(join(group, "blkio.throttle.io_service_bytes"), "utf8");
        const line = text.split("\n").find((l) => l.startsWith(`${device} Read `));
        return line === undefined ? 0 : Number(line.split(" ")[2]);
      },
      cpuSeconds: async () => (counting ? Number(await readFile(join(cpuGroup, "cpuacct.usage"), "utf8")) / 1e9 : undefined),
      close,
    };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}
