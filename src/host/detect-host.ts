import { access, readFile, realpath } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { STICK_FILES } from "../../stick-layout/format.js";
import { readHeaderCopies } from "../chunkstore/stick-files.js";
import { fileError, UsageError } from "../errors/errors.js";
import { chooseAccelerator, probeAccelerator, type AcceleratorProbeOptions, type AcceleratorReport, type QemuAccelerator } from "./accelerator.js";
import { cacheDir, freeSpaceFor } from "./cache-dir.js";
import { detectDisplay, type DisplayReport } from "./display.js";
import { hostId, readMachineId } from "./host-id.js";
import { parseMacMounts, runMacMount } from "./mac-mounts.js";
import { fsFamily, mountFor, parseMountInfo, type MountEntry, type StickFamily } from "./mountinfo.js";
import { systemFacts, type SystemReport } from "./system.js";

export interface StickFileSystem {
  mountPoint: string;
  fsType: string;
  family: StickFamily;
  source: string;
  options: string[];
  /** Files on the stick cannot be executed (Linux starts through `sh run.sh`, DESIGN section 5). */
  noexec: boolean;
  /** vfat marks only .exe/.com/.bat files executable. */
  showexec: boolean;
  /** Mounted read-only (Linux `ro`, also after an error remount; macOS `read-only`): nothing on the stick can be written. */
  readOnly: boolean;
}

export interface HostReport {
  system: SystemReport;
  cache: { path: string; freeBytes: number | null; measuredAt: string | null };
  accelerator: AcceleratorReport;
  /** chooseAccelerator's answer: what the player will be asked for, best first. */
  accelerators: QemuAccelerator[];
  display: DisplayReport;
  stick: {
    path: string;
    /** The mount that holds the stick; null where it cannot be read (and on Windows, where it is not detected yet). */
    fileSystem: StickFileSystem | null;
  };
  hostId: { id: string | null; basis: string };
}

export interface DetectHostOptions {
  /** The stick folder. Its file system is reported, and when it holds stick.hdr its id keys the host id. */
  stick: string;
  /** The folder was named by the user (--stick), so a folder that is not a stick is an error. */
  requireStick: boolean;
  platform?: NodeJS.Platform;
  env?: NodeJS.ProcessEnv;
  home?: string;
  mountinfoPath?: string;
  /** macOS: the output of `mount`. */
  macMounts?: () => Promise<string | undefined>;
  osReleasePath?: string;
  machineId?: () => Promise<string | undefined>;
  accelerator?: Omit<AcceleratorProbeOptions, "platform" | "arch">;
}

/** What `stickvm host` reports, and what the run step decides from. Reads only; writes nothing on the host. */
export async function detectHost(o: DetectHostOptions): Promise<HostReport> {
  const platform = o.platform ?? process.platform;
  const env = o.env ?? process.env;
  let stickPath: string;
  try {
    stickPath = await realpath(o.stick);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new UsageError(`no stick at ${o.stick}: the folder does not exist`);
    throw fileError(err, "find", o.stick);
  }
  const system = await systemFacts(platform, o.osReleasePath);
  const cachePath = cacheDir(platform, env, o.home ?? os.homedir());
  const free = await freeSpaceFor(cachePath);
  const accelerator = await probeAccelerator({ platform, arch: system.arch, ...o.accelerator });
  return {
    system,
    cache: { path: cachePath, freeBytes: free?.freeBytes ?? null, measuredAt: free?.measuredAt ?? null },
    accelerator,
    accelerators: chooseAccelerator({ accelerator }),
    display: detectDisplay(platform, env),
    stick: {
      path: stickPath,
      fileSystem: stickFileSystem(stickPath, await mounts(platform, o)),
    },
    hostId: await describeHostId(stickPath, o.requireStick, o.machineId ?? (() => readMachineId(platform))),
  };
}

/** The mounts of this host, or undefined where they cannot be read (no /proc in a sandbox) or are not read yet (Windows). */
async function mounts(platform: NodeJS.Platform, o: DetectHostOptions): Promise<MountEntry[] | undefined> {
  if (platform === "darwin") {
    const text = await (o.macMounts ?? runMacMount)();
    return text === undefined ? undefined : parseMacMounts(text);
  }
  if (platform === "win32") return undefined;
  try {
    return parseMountInfo(await readFile(o.mountinfoPath ?? "/proc/self/mountinfo", "utf8"));
  } catch {
    return undefined;
  }
}

function stickFileSystem(stickPath: string, entries: MountEntry[] | undefined): StickFileSystem | null {
  const m = entries === undefined ? undefined : mountFor(entries, stickPath);
  if (m === undefined) return null;
  const has = (option: string): boolean => m.options.includes(option);
  return { ...m, family: fsFamily(m.fsType), noexec: has("noexec"), showexec: has("showexec"), readOnly: has("ro") || has("read-only") };
}

async function describeHostId(stickPath: string, requireStick: boolean, machineId: () => Promise<string | undefined>): Promise<HostReport["hostId"]> {
  if (!requireStick) {
    try {
      await access(join(stickPath, STICK_FILES.header));
    } catch {
      return { id: null, basis: `no ${STICK_FILES.header} in ${stickPath}; give --stick` };
    }
  }
  // the header's MAC needs the unlocked key; an unauthenticated stick id is enough to key an id
  const [copy] = await readHeaderCopies(stickPath);
  if (copy === undefined) throw new Error("readHeaderCopies returned no copy");
  const machine = await machineId();
  if (machine === undefined) return { id: null, basis: "the OS's machine id cannot be read" };
  return { id: hostId(copy.header.stickId, machine), basis: "HMAC of the OS's machine id, keyed by this stick's id" };
}
