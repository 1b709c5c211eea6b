import { readFile, stat } from "node:fs/promises";
import type { RootEntry } from "./root-tree.js";
import { runSync } from "./run-sync.js";

/**
 * A dynamically linked program of this host with every library ldd names (the loader too), as
 * entries at their own absolute paths, so the program runs in a root built from the same
 * distribution (the guest's glibc search path is the host's).
 */
export async function hostProgram(binary: string): Promise<RootEntry[]> {
  const libraries = runSync("ldd", [binary]).toString("utf8").split("\n").flatMap((line) => {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
    const path = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line)?.[1];
    return path === undefined ? [] : [path];
  });
  return Promise.all([binary, ...libraries].map(async (path): Promise<RootEntry> => ({
    path: path.slice(1),
    kind: "file",
    mode: (await stat(path)).mode & 0o777,
    data: await readFile(path),
  })));
}
