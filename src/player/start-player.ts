import { isAbsolute, join } from "node:path";
import type { Player } from "./find-player.js";

/** What a player is started with: program, arguments, and the whole environment (nothing else is inherited). */
export interface PlayerCommand {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/** Host variables a player may see: where its window goes. Nothing that steers the loader (LD_*). */
const PASSED_ENV = ["DISPLAY", "XAUTHORITY"] as const;

/**
 * The player's environment: the display, and a home of its own (`home`, in the session's run
 * folder, which is wiped at the end) for everything a player or its GUI libraries write (config,
 * caches, runtime files), so nothing lands in the host user's folders. A relative Wayland display
 * is made absolute, and X's cookie file named, since both were found through the host's folders.
 */
export function playerEnv(hostEnv: NodeJS.ProcessEnv, home: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of PASSED_ENV) {
    const v = hostEnv[name];
    if (v !== undefined) env[name] = v;
  }
  const wayland = hostEnv.WAYLAND_DISPLAY;
  if (wayland !== undefined && wayland !== "") {
    const runtime = hostEnv.XDG_RUNTIME_DIR;
    if (isAbsolute(wayland)) env.WAYLAND_DISPLAY = wayland;
    else if (runtime !== undefined) env.WAYLAND_DISPLAY = join(runtime, wayland);
  }
  if (env.XAUTHORITY === undefined && hostEnv.HOME !== undefined && hostEnv.DISPLAY !== undefined) env.XAUTHORITY = join(hostEnv.HOME, ".Xauthority");
  Object.assign(env, {
    HOME: home,
    TMPDIR: home,
    XDG_RUNTIME_DIR: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_CACHE_HOME: join(home, ".cache"),
    XDG_DATA_HOME: join(home, ".local", "share"),
    XDG_STATE_HOME: join(home, ".local", "state"),
  });
  return env;
}

/**
 * The command line for a player. The stick's player runs as
 * `<dir>/lib/ld-linux-x86-64.so.2 --library-path <dir>/lib <dir>/bin/qemu-system-x86_64 -L <firmware>… <args>`
 * with QEMU_MODULE_DIR set to its modules, so that neither a library nor a module nor firmware
 * comes from the host; the binary itself need not be executable (a noexec mount still needs the
 * loader copied somewhere it can run: the run step's job). The host's QEMU runs as it is.
 */
export function playerCommand(player: Player, qemuArgs: string[], env: Record<string, string>): PlayerCommand {
  if (player.kind === "host") return { command: player.binary, args: qemuArgs, env };
  const m = player.manifest;
  const at = (p: string): string => join(player.dir, ...p.split("/"));
  const exec = (p: string): string => join(player.execDir ?? player.dir, ...p.split("/"));
  return {
    command: exec(m.loader),
    args: ["--library-path", exec(m.libraryDir), exec(m.binary), ...m.firmwareDirs.flatMap((d) => ["-L", at(d)]), ...qemuArgs],
    env: { ...env, QEMU_MODULE_DIR: exec(m.moduleDir) },
  };
}

/** util-linux's setpriv, where Linux hosts have it (Debian: always, it is essential). */
const SETPRIV_PATHS = ["/usr/bin/setpriv", "/bin/setpriv"];

/**
 * The command so that the player dies with the launcher: on Linux, through `setpriv --pdeathsig
 * KILL`, which asks the kernel to kill it when the launcher's thread that started it ends (a
 * launcher killed with SIGKILL cannot stop it itself, and a player left running would hold the
 * session's folders and keep the guest's memory). setpriv then execs the player: same process.
 * Elsewhere, or without setpriv, the command as it is.
 */
export function diesWithLauncher(cmd: PlayerCommand, platform: NodeJS.Platform, exists: (path: string) => boolean): PlayerCommand {
  const setpriv = platform === "linux" ? SETPRIV_PATHS.find(exists) : undefined;
  return setpriv === undefined ? cmd : { ...cmd, command: setpriv, args: ["--pdeathsig", "KILL", "--", cmd.command, ...cmd.args] };
}
