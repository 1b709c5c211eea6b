import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { type CpioEntry, newc, S_IFCHR, S_IFDIR, S_IFREG } from "./cpio.js";
import { GUEST_DIR } from "./guest-files.js";
import { moduleBytes } from "./kernel-modules.js";

export interface InitramfsParts {
  /** The /init script, run by /bin/busybox sh; it starts with `. /lib/early.sh` (guest/initramfs-early.sh). */
  init: Buffer;
  /** A static busybox, as /bin/busybox (the init script installs its applets). */
  busybox: Buffer;
  /** Kernel modules in load order, names with their files; listed in /lib/modules/order. */
  modules: readonly (readonly [name: string, path: string])[];
}

/**
 * A gzipped newc initramfs holding busybox, the init script, the early set-up every init shares
 * (/lib/early.sh) and the modules as /lib/modules/NAME.ko.
 */
export async function busyboxInitramfs(parts: InitramfsParts): Promise<Buffer> {
  const dir = (name: string): CpioEntry => ({ name, mode: S_IFDIR | 0o755, data: Buffer.alloc(0) });
  const file = (name: string, data: Buffer, perm = 0o644): CpioEntry => ({ name, mode: S_IFREG | perm, data });
  const entries = [
    ...["bin", "dev", "proc", "sys", "tmp", "mnt", "lib", "lib/modules"].map(dir),
    // The kernel opens /dev/console for init's stdio before init can mount devtmpfs.
    { name: "dev/console", mode: S_IFCHR | 0o600, data: Buffer.alloc(0), rdev: [5, 1] as const },
    file("bin/busybox", parts.busybox, 0o755),
    file("init", parts.init, 0o755),
    file("lib/early.sh", await readFile(join(GUEST_DIR, "initramfs-early.sh"))),
    file("lib/modules/order", Buffer.from(parts.modules.map(([name]) => name).join("\n") + "\n")),
  ];
  for (const [name, path] of parts.modules) entries.push(file(`lib/modules/${name}.ko`, await moduleBytes(path)));
  return gzipSync(newc(entries));
}
