import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { join, relative } from "node:path";

/** One entry of a root file system being put together: a directory, a file or a symbolic link. */
export type RootEntry =
  | { path: string; kind: "dir" }
  | { path: string; kind: "file"; mode: number; data: Buffer }
  | { path: string; kind: "link"; target: string };

/** Every entry under `dir`, with paths relative to it, parents before children, in a stable order. */
export async function readTree(dir: string): Promise<RootEntry[]> {
  const entries: RootEntry[] = [];
  for (const name of (await readdir(dir, { recursive: true })).sort()) {
    const full = join(dir, name);
    const path = relative(dir, full);
    const st = await lstat(full);
    if (st.isDirectory()) entries.push({ path, kind: "dir" });
    else if (st.isSymbolicLink()) entries.push({ path, kind: "link", target: await readlink(full) });
    else entries.push({ path, kind: "file", mode: st.mode & 0o7777, data: await readFile(full) });
  }
  return entries;
}

/** What the entries are, as cache-key input: paths, kinds, modes, targets and bytes. */
export function treeKey(entries: readonly RootEntry[]): (string | Buffer)[] {
  return entries.flatMap((e) => {
    if (e.kind === "dir") return [`dir ${e.path}`];
    if (e.kind === "link") return [`link ${e.path} ${e.target}`];
    return [`file ${e.path} ${e.mode.toString(8)}`, e.data];
  });
}
