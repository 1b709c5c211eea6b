import { join } from "node:path";
import type { Player } from "./find-player.js";

/** What a player is started with: program, arguments, and the whole environment (nothing else is inherited). */
export interface PlayerCommand {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/** Host variables a player may see: where its window goes, and a home for GTK's settings. Nothing that steers the loader (LD_*). */
const PASSED_ENV = ["DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY", "XDG_RUNTIME_DIR", "HOME"] as const;

/**
 * The command line for a player. The stick's player runs as
 * `<dir>/lib/ld-linux-x86-64.so.2 --library-path <dir>/lib <dir>/bin/qemu-system-x86_64 -L <firmware>… <args>`
 * with QEMU_MODULE_DIR set to its modules, so that neither a library nor a module nor firmware
 * comes from the host; the binary itself need not be executable (a noexec mount still needs the
 * loader copied somewhere it can run: the run step's job). The host's QEMU runs as it is.
 */
export function playerCommand(player: Player, qemuArgs: string[], hostEnv: NodeJS.ProcessEnv): PlayerCommand {
  const env: Record<string, string> = {};
  for (const name of PASSED_ENV) {
    const v = hostEnv[name];
    if (v !== undefined) env[name] = v;
  }
  if (player.kind === "host") return { command: player.binary, args: qemuArgs, env };
  const m = player.manifest;
  const at = (p: string): string => join(player.dir, ...p.split("/"));
  const exec = (p: string): string => join(player.execDir ?? player.dir, ...p.split("/"));
  env.QEMU_MODULE_DIR = exec(m.moduleDir);
  return {
    command: exec(m.loader),
    args: ["--library-path", exec(m.libraryDir), exec(m.binary), ...m.firmwareDirs.flatMap((d) => ["-L", at(d)]), ...qemuArgs],
    env,
  };
}
