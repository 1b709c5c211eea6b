import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { MountEntry } from "./mountinfo.js";

/**
 * macOS has no mountinfo; `mount` prints one line a mount:
 * `/dev/disk4s1 on /Volumes/MY STICK (msdos, local, nodev, nosuid, noowners)`,
 * the file system first in the parentheses, then the options.
 */
export function parseMacMounts(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const m = /^(.+?) on (.+) \(([^()]*)\)$/.exec(line);
    const [fsType, ...options] = (m?.[3] ?? "").split(",").map((o) => o.trim());
    if (m?.[1] === undefined || m[2] === undefined || fsType === undefined || fsType === "") continue;
    entries.push({ mountPoint: m[2], fsType, source: m[1], options });
  }
  return entries;
}

export async function runMacMount(): Promise<string | undefined> {
  try {
    return (await promisify(execFile)("mount", [], { timeout: 5000 })).stdout;
  } catch {
    return undefined;
  }
}
