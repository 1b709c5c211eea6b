import { spawnSync } from "node:child_process";
import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Where a session's small, sensitive files go: RAM-backed folders first, the temp folder last. */
export function runFolderCandidates(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string[] {
  const ram = platform === "linux" ? [env.XDG_RUNTIME_DIR, "/dev/shm", "/run/shm"] : [];
  return [...ram, tmpdir()].filter((d): d is string => d !== undefined && d !== "");
}

/**
 * Makes this session's run folder (the NBD and QMP sockets, the decoded boot files, a copy of
 * the player when the stick cannot run it, the player's home): with `make` (which journals it)
 * in the first candidate where one can be made and `usable` (say, "a program copied here runs")
 * holds. Returns the folder; the session's residue wipes it.
 */
export async function createRunFolder(candidates: string[], make: (base: string) => Promise<string>, usable?: (dir: string) => Promise<boolean>): Promise<string> {
  const tried: string[] = [];
  for (const base of candidates) {
    let dir: string;
    try {
      dir = await make(base);
    } catch (err) {
      tried.push(`${base} (${(err as Error).message})`);
      continue;
    }
    if (usable === undefined || (await usable(dir))) return dir;
    tried.push(`${base} (programs cannot run there)`);
    await rm(dir, { recursive: true, force: true });
  }
  throw new Error(`no folder on this host can hold the session's files: tried ${tried.join(", ")}`);
}

/** True when a program in `dir` can be run (not a noexec mount): tried with a two-line shell script. */
export async function canExecuteIn(dir: string): Promise<boolean> {
  const probe = join(dir, "exec-probe");
  await writeFile(probe, "#!/bin/sh\nexit 0\n", { mode: 0o700 });
  const ok = spawnSync(probe, [], { stdio: "ignore", timeout: 10_000 }).status === 0;
  await rm(probe, { force: true });
  return ok;
}
