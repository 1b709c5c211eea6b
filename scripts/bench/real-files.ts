// Real files from this machine, copied into a folder that mke2fs -d turns into a benchmark image:
// an OS disk's mix of libraries, executables, a JDK, data and docs compresses like an OS disk,
// which random bytes do not. Used by build-bench.ts and slow-stick-bench.ts.
import { existsSync } from "node:fs";
import { copyFile, lstat, mkdir, readdir, readlink, symlink } from "node:fs/promises";
import { join } from "node:path";

const MiB = 1024 * 1024;
const BLOCK = 4096;
const roundUp = (n: number): number => Math.ceil(n / BLOCK) * BLOCK;

/**
 * Where real files are copied from, in this order, each up to its share of the bytes to fill
 * (what a root leaves unused passes on to the next), so the image holds a mix like an OS disk:
 * shared libraries, executables, a JDK, data and docs.
 */
export const SOURCE_ROOTS: readonly (readonly [string, number])[] = [
  ["/usr/lib/x86_64-linux-gnu", 0.4],
  ["/usr/bin", 0.15],
  ["/usr/lib/jvm", 0.15],
  ["/usr/share", 0.15],
  ["/usr/lib", 1],
  ["/usr/sbin", 1],
  ["/usr/libexec", 1],
  ["/usr/include", 1],
  ["/opt", 1],
];

/** What was copied: counts, bytes in 4 KiB blocks (plus one block per file), and the roots used. */
export interface StagedFiles {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  sources: string[];
}

interface Stager extends StagedFiles {
  /** Bytes that may be copied so far. */
  budget: number;
  inodeBudget: number;
  seen: Set<string>;
}

/** Copies real files from `from` into `to`, depth first in sorted order, until the byte or inode budget is used. */
async function stage(from: string, to: string, s: Stager): Promise<void> {
  if (s.seen.has(from)) return;
  s.seen.add(from);
  let names: string[];
  try {
    names = (await readdir(from)).sort();
  } catch {
    return;
  }
  await mkdir(to, { recursive: true });
  s.dirs += 1;
  for (const name of names) {
    if (s.budget - s.bytes < 4 * MiB || s.files + s.dirs + s.symlinks >= s.inodeBudget) return;
    const src = join(from, name);
    const dst = join(to, name);
    let st;
    try {
      st = await lstat(src);
    } catch {
      continue;
    }
    if (st.isDirectory()) {
      await stage(src, dst, s);
    } else if (st.isSymbolicLink()) {
      try {
        await symlink(await readlink(src), dst);
        s.symlinks += 1;
      } catch {
        // unreadable link: skip it
      }
    } else if (st.isFile()) {
      const cost = roundUp(st.size) + BLOCK;
      if (s.bytes + cost > s.budget) continue;
      try {
        await copyFile(src, dst);
      } catch {
        continue;
      }
      s.bytes += cost;
      s.files += 1;
    }
  }
}

/**
 * Fills `dir` (which must exist) with up to `total` bytes of real files from SOURCE_ROOTS, each
 * root under a folder named after it (/usr/bin → usr_bin), using at most `inodeBudget` inodes.
 */
export async function stageRealFiles(dir: string, total: number, inodeBudget: number, log: (text: string) => void): Promise<StagedFiles> {
  const s: Stager = { budget: 0, inodeBudget, bytes: 0, files: 0, dirs: 0, symlinks: 0, sources: [], seen: new Set() };
  for (const [src, share] of SOURCE_ROOTS) {
    if (total - s.bytes < 4 * MiB) break;
    if (!existsSync(src)) continue;
    const before = s.bytes;
    s.budget = Math.min(total, s.bytes + Math.floor(total * share));
    log(`copying real files from ${src} (${(s.bytes / MiB).toFixed(0)} of ${(total / MiB).toFixed(0)} MiB so far)`);
    await stage(src, join(dir, src.replace(/^\//, "").replaceAll("/", "_")), s);
    if (s.bytes > before) s.sources.push(src);
  }
  if (s.bytes < total * 0.5) log(`warning: found only ${(s.bytes / MiB).toFixed(0)} MiB of files to copy`);
  const { files, dirs, symlinks, bytes, sources } = s;
  return { files, dirs, symlinks, bytes, sources };
}
