import { spawn } from "node:child_process";
import { NoPlayerError } from "../errors/errors.js";
import type { Player } from "./find-player.js";
import { playerCommand } from "./start-player.js";

export interface PlayerCapabilities {
  /** The build has seccomp (`-sandbox on`); Debian's does, some others do not. */
  sandbox: boolean;
  /** The build has the `qemu-vdagent` chardev, which shares the clipboard with the display (QEMU 6.1 and later). */
  vdagent: boolean;
}

/** Reads capabilities from `-help` and `-chardev help`: what the build lacks is not listed there. */
export function parseCapabilities(helpText: string, chardevHelpText = ""): PlayerCapabilities {
  return { sandbox: /^-sandbox on/m.test(helpText), vdagent: /^\s*qemu-vdagent$/m.test(chardevHelpText) };
}

/** Asks the player for its `-help` and `-chardev help` (started the way a session starts it, with the session's player environment). */
export async function probeCapabilities(player: Player, env: Record<string, string> = {}): Promise<PlayerCapabilities> {
  const [help, chardevs] = await Promise.all([playerOutput(player, ["-help"], env), playerOutput(player, ["-chardev", "help"], env)]);
  return parseCapabilities(help, chardevs);
}

function playerOutput(player: Player, args: string[], env: Record<string, string>): Promise<string> {
  const cmd = playerCommand(player, args, env);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd.command, cmd.args, { env: cmd.env, stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.on("error", (err) => {
      reject(new NoPlayerError(`the player ${cmd.command} cannot be started: ${err.message}`));
    });
    child.on("close", () => {
      resolve(out);
    });
  });
}
