import { execFile } from "node:child_process";
import { access, constants, open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

/** The hardware accelerators QEMU offers, one per host OS (DESIGN section 7). */
export type HardwareAccelerator = "kvm" | "hvf" | "whpx";
export type QemuAccelerator = HardwareAccelerator | "tcg";

export interface AcceleratorReport {
  /** The accelerator this OS would use; null where QEMU has none (other OSes). */
  name: HardwareAccelerator | null;
  /**
   * usable: every check passed; unusable: one failed (see reason); unconfirmed: only the
   * player can tell (Windows without a player to ask), so it is tried with TCG behind it.
   */
  status: "usable" | "unusable" | "unconfirmed";
  reason: string;
}

/** Asks the player whether it can start with this accelerator (see player-probe.ts). */
export type PlayerProbe = (accelerator: HardwareAccelerator) => Promise<boolean>;

export interface AcceleratorProbeOptions {
  platform: NodeJS.Platform;
  arch: string;
  /** Linux: the KVM device. */
  kvmPath?: string;
  /** Linux: where the CPU's flags are read. */
  cpuinfoPath?: string;
  /** macOS: reads a sysctl by name; undefined when it cannot be read. */
  sysctl?: (name: string) => Promise<string | undefined>;
  /** Windows: the system folder, where the Hypervisor Platform's DLL lives when the feature is on. */
  windowsSystemDir?: string;
  player?: PlayerProbe;
}

/** The QEMU accelerators to ask for, best first; QEMU takes the first that starts, and TCG always does. */
export function chooseAccelerator(host: { accelerator: AcceleratorReport }): QemuAccelerator[] {
  const a = host.accelerator;
  return a.name !== null && a.status !== "unusable" ? [a.name, "tcg"] : ["tcg"];
}

export async function probeAccelerator(o: AcceleratorProbeOptions): Promise<AcceleratorReport> {
  const found = await probeOs(o);
  if (found.name === null || found.status === "unusable" || o.player === undefined) return found;
  if (await o.player(found.name)) return { name: found.name, status: "usable", reason: `${found.reason}; the player starts with ${found.name}` };
  return { name: found.name, status: "unusable", reason: `${found.reason}, but the player cannot start with ${found.name}` };
}

function probeOs(o: AcceleratorProbeOptions): Promise<AcceleratorReport> {
  switch (o.platform) {
    case "linux":
      return probeKvm(o.kvmPath ?? "/dev/kvm", o.cpuinfoPath ?? "/proc/cpuinfo", o.arch);
    case "darwin":
      return probeHvf(o.sysctl ?? readSysctl);
    case "win32":
      return probeWhpx(o.windowsSystemDir ?? join(process.env.SystemRoot ?? "C:\\Windows", "System32"));
    default:
      return Promise.resolve({ name: null, status: "unusable", reason: `QEMU has no accelerator for ${o.platform}` });
  }
}

async function probeKvm(kvmPath: string, cpuinfoPath: string, arch: string): Promise<AcceleratorReport> {
  const unusable = (reason: string): AcceleratorReport => ({ name: "kvm", status: "unusable", reason });
  try {
    // opening is the only true test: permissions, ACLs, SELinux and a root that cannot reach the device all show here
    await (await open(kvmPath, constants.O_RDWR)).close();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return unusable(`no ${kvmPath} (the kvm module is not loaded, or virtualization is off in the firmware)`);
    if (code === "EACCES" || code === "EPERM") return unusable(`${kvmPath} is not read-write for this user (add the user to the kvm group)`);
    return unusable(`${kvmPath} does not open: ${code ?? String(err)}`);
  }
  // On x86 KVM runs guests on the CPU's vmx or svm; a device without them (a nested host that
  // hides them, as on the machines we test on) opens but hangs real guests.
  if (arch === "x64" || arch === "ia32") {
    const flags = await cpuFlags(cpuinfoPath);
    if (flags !== undefined && !flags.has("vmx") && !flags.has("svm")) {
      return unusable(`${kvmPath} opens, but the CPU reports neither vmx nor svm, so KVM cannot run a guest here`);
    }
  }
  return { name: "kvm", status: "usable", reason: `${kvmPath} is read-write for this user` };
}

async function cpuFlags(cpuinfoPath: string): Promise<Set<string> | undefined> {
  let text: string;
  try {
    text = await readFile(cpuinfoPath, "utf8");
  } catch {
    return undefined; // no cpuinfo to read (a sandbox): the open device is all there is to go on
  }
  const line = /^flags\s*:(.*)$/m.exec(text)?.[1];
  return line === undefined ? undefined : new Set(line.trim().split(/\s+/));
}

async function probeHvf(sysctl: (name: string) => Promise<string | undefined>): Promise<AcceleratorReport> {
  const value = await sysctl("kern.hv_support");
  if (value === "1") return { name: "hvf", status: "usable", reason: "kern.hv_support is 1" };
  return { name: "hvf", status: "unusable", reason: value === undefined ? "kern.hv_support cannot be read" : `kern.hv_support is ${value} (no Hypervisor.framework support)` };
}

async function readSysctl(name: string): Promise<string | undefined> {
  try {
    return (await promisify(execFile)("sysctl", ["-n", name], { timeout: 5000 })).stdout.trim();
  } catch {
    return undefined;
  }
}

async function probeWhpx(systemDir: string): Promise<AcceleratorReport> {
  const dll = join(systemDir, "WinHvPlatform.dll");
  try {
    await access(dll);
  } catch {
    return { name: "whpx", status: "unusable", reason: `the Windows Hypervisor Platform feature is off (no ${dll})` };
  }
  return { name: "whpx", status: "unconfirmed", reason: "the Windows Hypervisor Platform feature is on; only the player can tell whether it starts" };
}
