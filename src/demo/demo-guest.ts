// The demo guest `npm run demo` boots: Debian's kernel, a busybox initramfs and a small ext4
// system disk whose init mounts the user disk at /home and gives the console a shell.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { builderCode, cachedBuild, contentHash } from "./build-cache.js";
import { BUSYBOX, busyboxAppletPaths, staticBusybox } from "./busybox.js";
import { fetchDebianKernel } from "./debian-kernel.js";
import { GUEST_DIR } from "./guest-files.js";
import { hostProgram } from "./host-program.js";
import { busyboxInitramfs } from "./initramfs.js";
import { DISK_MODULES, findModules } from "./kernel-modules.js";
import { readTree, type RootEntry, treeKey } from "./root-tree.js";
import { makeExt4Image, writeTree } from "./system-image.js";

export interface DemoGuest {
  /** For QEMU's -kernel: Debian's kernel as an uncompressed ELF. */
  kernel: string;
  /** For -initrd: the busybox initramfs that mounts the system disk and switches to it. */
  initrd: string;
  /** For -append: the kernel command line. */
  append: string;
  /** The raw ext4 image to serve as the system disk (serial stickvm-system). */
  systemImage: string;
}

/** What the guest prints on the console once /home is mounted, just before its shell starts. */
export const DEMO_READY_LINE = "stickvm-demo: ready";
/** The shell's prompt at login (hostname, working folder, #: the user is root). */
export const DEMO_PROMPT = "stickvm-demo:/home# ";
/** One paragraph for the README and the demo script. */
export const DEMO_GUEST_SUMMARY =
  "A tiny Linux (Debian's kernel, busybox) that boots to a root shell on the console. " +
  "/home is the user disk on the stick (formatted ext4 on first boot only); the local disk is " +
  "swap; every other change is thrown away at power-off. Type poweroff or exit to stop.";

const MiB = 1024 * 1024;
/** Busybox and a few files need well under 16 MiB; the rest is room to play in. */
export const DEMO_SYSTEM_IMAGE_BYTES = 64 * MiB;
// The serial console, no kernel chatter on it (panics still show), and a panic ends the VM
// at once (QEMU with -no-reboot exits) instead of hanging on a dead guest.
const APPEND = "console=ttyS0 loglevel=1 panic=-1";
// The ACPI power button driver and the event device busybox acpid reads it through.
const MODULES = [...DISK_MODULES, "button", "evdev"];
// mke2fs from the host (with its libraries), since busybox's makes only ext2, without a journal.
const MKE2FS = "/sbin/mke2fs";

/**
 * Builds (once) the demo guest into `cacheDir`: kernel, initramfs and system image, cached under
 * the kernel's package and version plus a hash of everything else that goes in (delete the
 * folder to pick up a newer kernel).
 */
export async function buildDemoGuest(cacheDir: string): Promise<DemoGuest> {
  const init = await readFile(join(GUEST_DIR, "initramfs-init.sh"));
  const busybox = await staticBusybox();
  const root = await systemRoot(busybox);
  const hash = contentHash([init, busybox, APPEND, MODULES.join(" "), ...treeKey(root), ...await builderCode()]);
  const dir = await cachedBuild(cacheDir, hash, async (work, out) => {
    const debian = await fetchDebianKernel(work);
    await writeFile(join(out, "kernel"), debian.kernel);
    const modules = await findModules(debian.modulesDir, MODULES);
    await writeFile(join(out, "initrd.gz"), await busyboxInitramfs({ init, busybox, modules }));
    const rootDir = join(work, "system-root");
    await writeTree(rootDir, root);
    makeExt4Image(rootDir, join(out, "system.img"), DEMO_SYSTEM_IMAGE_BYTES, "stickvm-system");
    return debian.name;
  });
  return { kernel: join(dir, "kernel"), initrd: join(dir, "initrd.gz"), append: APPEND, systemImage: join(dir, "system.img") };
}

/** The system disk's files: the repository's guest/root, mke2fs, busybox and its applets. */
async function systemRoot(busybox: Buffer): Promise<RootEntry[]> {
  const dirs = ["proc", "sys", "dev", "tmp", "run", "home", "root", "mnt"];
  return [
    ...dirs.map((path): RootEntry => ({ path, kind: "dir" })),
    ...await readTree(join(GUEST_DIR, "root")),
    // mke2fs checks that a disk is not mounted, and finds the mounts through /etc/mtab.
    { path: "etc/mtab", kind: "link", target: "/proc/mounts" },
    { path: "etc/mke2fs.conf", kind: "file", mode: 0o644, data: await readFile("/etc/mke2fs.conf") },
    ...await hostProgram(MKE2FS),
    { path: BUSYBOX.slice(1), kind: "file", mode: 0o755, data: busybox },
    // Applets whose paths are taken above (init, mke2fs) stay the real thing.
    ...busyboxAppletPaths().map((path): RootEntry => ({ path, kind: "link", target: BUSYBOX })),
  ];
}
