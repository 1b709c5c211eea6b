import { spawnSync } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { uncompressedKernel } from "./kernel-image.js";
import { runSync } from "./run-sync.js";

export interface DebianKernel {
  /** The package and version, e.g. linux-image-6.1.0-56-amd64_6.1.192-2: names a build in a cache. */
  name: string;
  /** The kernel as QEMU's -kernel boots it fastest (see uncompressedKernel). */
  kernel: Buffer;
  /** The package's lib/modules folder. */
  modulesDir: string;
}

/** Downloads the kernel linux-image-amd64 depends on and unpacks it into `dir` (seconds; no root needed). */
export async function fetchDebianKernel(dir: string): Promise<DebianKernel> {
  const { deb, name } = await downloadKernel(dir);
  const root = join(dir, "kernel-package");
  runSync("dpkg-deb", ["-x", deb, root]);
  const boot = join(root, "boot");
  const vmlinuz = (await readdir(boot)).find((f) => f.startsWith("vmlinuz-"));
  if (vmlinuz === undefined) throw new Error(`${basename(deb)} has no boot/vmlinuz-*`);
  return { name, kernel: uncompressedKernel(await readFile(join(boot, vmlinuz))), modulesDir: join(root, "lib", "modules") };
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
