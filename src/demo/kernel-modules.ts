import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { runSync } from "./run-sync.js";

/**
 * What a guest needs from Debian's kernel to use stickvm's disks, in load order (dependencies
 * first): virtio for the disks, ext4 for their filesystems. Debian builds all of them as modules.
 */
export const DISK_MODULES = [
  "virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci", "virtio_blk",
  "crc16", "mbcache", "jbd2", "crc32c_generic", "ext4",
] as const;

/**
 * Finds each named module under lib/modules/<release>/kernel (as .ko or .ko.xz), in the order
 * given, with its file; throws naming any missing.
 */
export async function findModules(modulesDir: string, names: readonly string[]): Promise<[name: string, path: string][]> {
  const releases = await readdir(modulesDir);
  const release = releases[0];
  if (release === undefined || releases.length !== 1) throw new Error(`expected one kernel release in ${modulesDir}, found ${releases.join(", ")}`);
  const kernelDir = join(modulesDir, release, "kernel");
  const found = new Map<string, string>();
  for (const file of await readdir(kernelDir, { recursive: true })) {
    const name = /([^/]+)\.ko(\.xz)?$/.exec(file)?.[1];
    if (name !== undefined && names.includes(name)) found.set(name, join(kernelDir, file));
  }
  const ordered: [string, string][] = [];
  const missing: string[] = [];
  for (const name of names) {
    const path = found.get(name);
    if (path === undefined) missing.push(name);
    else ordered.push([name, path]);
  }
  if (missing.length > 0) throw new Error(`kernel ${release} lacks modules ${missing.join(", ")}`);
  return ordered;
}

/** A module file's bytes as insmod wants them: busybox's insmod does not read .ko.xz. */
export async function moduleBytes(path: string): Promise<Buffer> {
  return path.endsWith(".xz") ? runSync("xz", ["-dc", path]) : readFile(path);
}
