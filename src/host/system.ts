import { readFile } from "node:fs/promises";
import os from "node:os";

export interface SystemReport {
  platform: NodeJS.Platform;
  /** A person's name for the OS: /etc/os-release's PRETTY_NAME on Linux, else the kernel's version string. */
  name: string;
  release: string;
  arch: string;
  cpus: number;
  totalMemoryBytes: number;
  freeMemoryBytes: number;
}

/** OS, CPU and memory facts of this host. */
export async function systemFacts(platform: NodeJS.Platform, osReleasePath = "/etc/os-release"): Promise<SystemReport> {
  return {
    platform,
    name: (platform === "linux" ? await prettyName(osReleasePath) : undefined) ?? os.version(),
    release: os.release(),
    arch: os.arch(),
    // what the OS lets this process use (cgroups, affinity), which is what the guest can have
    cpus: os.availableParallelism(),
    totalMemoryBytes: os.totalmem(),
    freeMemoryBytes: os.freemem(),
  };
}

async function prettyName(path: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return undefined;
  }
  const m = /^PRETTY_NAME=(["']?)(.*)\1$/m.exec(text);
  return m?.[2];
}
