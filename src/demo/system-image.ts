import { chmod, mkdir, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { RootEntry } from "./root-tree.js";
import { runSync } from "./run-sync.js";

/** Creates the entries under `root` (parents as needed); an entry whose path comes again is skipped. */
export async function writeTree(root: string, entries: readonly RootEntry[]): Promise<void> {
  const done = new Set<string>();
  for (const e of entries) {
    if (done.has(e.path)) continue;
    done.add(e.path);
    const full = join(root, e.path);
    if (e.kind === "dir") {
      await mkdir(full, { recursive: true });
      continue;
    }
    await mkdir(dirname(full), { recursive: true });
    if (e.kind === "link") await symlink(e.target, full);
    else {
      await writeFile(full, e.data);
      // The umask would otherwise trim the mode.
      await chmod(full, e.mode);
    }
  }
}

/** A raw ext4 image of `bytes` at `out` holding the files under `root` (mke2fs -d, no root rights needed). */
export function makeExt4Image(root: string, out: string, bytes: number, label: string): void {
  runSync("mke2fs", ["-q", "-F", "-t", "ext4", "-L", label, "-d", root, out, `${Math.ceil(bytes / 1024)}k`]);
}
