import { spawn } from "node:child_process";
import { NoPlayerError } from "../errors/errors.js";
import type { Player } from "./find-player.js";
import { playerCommand } from "./start-player.js";

export interface PlayerCapabilities {
  /** The build has seccomp (`-sandbox on`); Debian's does, some others do not. */
  sandbox: boolean;
}

/** Reads capabilities from `-help`: an option the build lacks is not listed there. */
export function parseCapabilities(helpText: string): PlayerCapabilities {
  return { sandbox: /^-sandbox on/m.test(helpText) };
}

/** Asks the player for its `-help` (started the way a session starts it, with the session's player environment). */
export function probeCapabilities(player: Player, env: Record<string, string> = {}): Promise<PlayerCapabilities> {
  const cmd = playerCommand(player, ["-help"], env);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd.command, cmd.args, { env: cmd.env, stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.on("error", (err) => {
      reject(new NoPlayerError(`the player ${cmd.command} cannot be started: ${err.message}`));
    });
    child.on("close", () => {
      resolve(parseCapabilities(out));
    });
  });
}
