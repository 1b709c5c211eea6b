import { chmod, copyFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileError } from "../errors/errors.js";
import type { Player } from "../player/find-player.js";

type StickPlayer = Extract<Player, { kind: "stick" }>;

/** The files of a stick's player that are executed or mapped executable: the loader, the binary, its libraries and modules. */
export function executableFiles(player: StickPlayer): string[] {
  const m = player.manifest;
  const under = (dir: string, path: string): boolean => path.startsWith(`${dir}/`);
  return m.files.map((f) => f.path).filter((p) => p === m.loader || p === m.binary || under(m.libraryDir, p) || under(m.moduleDir, p));
}

/**
 * On a stick mounted noexec (or showexec, where the loader has no execute bit) the kernel
 * refuses to run the loader or map the libraries executable. Copies those files into
 * `dir` (a RAM-backed folder of the run folder) and returns the player started from there.
 */
export async function copyPlayerForExec(player: StickPlayer, dir: string): Promise<StickPlayer> {
  for (const path of executableFiles(player)) {
    const from = join(player.dir, ...path.split("/"));
    const to = join(dir, ...path.split("/"));
    try {
      await mkdir(dirname(to), { recursive: true });
      await copyFile(from, to);
    } catch (err) {
      throw fileError(err, "copy the player file", from);
    }
  }
  // a copy keeps the source's mode, and on a showexec mount the loader has no execute bit
  await chmod(join(dir, ...player.manifest.loader.split("/")), 0o700);
  return { ...player, execDir: dir };
}
