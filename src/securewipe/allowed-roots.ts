import { lstat } from "node:fs/promises";
import { basename, dirname, isAbsolute, normalize } from "node:path";
import type { ResidueEntry, ResidueWhat } from "../../stick-layout/residue-journal.js";

/** The folders on this host under which the launcher creates things: nothing outside them is ever wiped. */
export interface WipeRoots {
  /** Where run and session folders go: the RAM folders and the temp folder. */
  temp: string[];
  /** Cache roots: the OS's per-user cache folder for stickvm, `--cache-dir`, the stick's policy's `cacheDir`. */
  cache: string[];
}

/** The name each kind of entry has (the launcher makes these names; a journal cannot name anything else). */
const NAMES: Record<ResidueWhat, RegExp> = {
  run: /^stickvm-run-[0-9a-f]{16}$/,
  // run.sh's `mktemp -d stickvm-run.XXXXXX`
  "launcher-copy": /^stickvm-run\.[A-Za-z0-9]{6,}$/,
  session: /^stickvm-session-[0-9a-f]{16}$/,
  cache: /^[0-9a-f]{32}$/,
  "cache-parent": /./,
};

function same(a: string, b: string): boolean {
  return normalize(a) === normalize(b);
}

/**
 * Why the journal's entry may not be wiped here, or undefined when it may: its path must be
 * absolute and plain (no `..`, no `.`), have the name its kind has, sit directly in one of the
 * roots its kind uses, and not be a symbolic link. A cache parent (a folder the launcher had to
 * make above a cache folder) must be a cache root or the folder right above one, and is only
 * ever removed when empty.
 */
export async function entryProblem(e: ResidueEntry, roots: WipeRoots): Promise<string | undefined> {
  const p = e.path;
  if (!isAbsolute(p) || normalize(p) !== p || p.endsWith("/") || p.endsWith("\\")) return `${JSON.stringify(p)} is not a plain absolute path`;
  if (e.what === "cache-parent") {
    if (e.kind !== "empty-dir") return `a cache parent (${p}) is only ever removed when empty`;
    if (!roots.cache.some((r) => same(p, r) || same(p, dirname(r)))) return `${p} is neither a cache root of this host nor the folder above one`;
  } else {
    if (e.kind !== "tree") return `${p}: a ${e.what} folder is wiped whole`;
    if (!NAMES[e.what].test(basename(p))) return `${p} does not have the name of a ${e.what} folder`;
    const allowed = e.what === "cache" ? roots.cache : roots.temp;
    if (!allowed.some((r) => same(dirname(p), r))) return `${p} is not in a folder the launcher uses for a ${e.what} folder here (${allowed.join(", ")})`;
  }
  try {
    if ((await lstat(p)).isSymbolicLink()) return `${p} is a symbolic link: never followed`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") return `${p} cannot be checked: ${(err as Error).message}`;
  }
  return undefined;
}
