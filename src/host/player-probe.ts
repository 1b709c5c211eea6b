import { spawn } from "node:child_process";
import type { QemuAccelerator } from "./accelerator.js";

/** How to start a player with some QEMU arguments: the program, all its arguments, its whole environment. */
export type PlayerLaunch = (qemuArgs: string[]) => { command: string; args: string[]; env: Record<string, string> };

/** Long enough for a cold start from a slow stick; a player that takes longer is not answering. */
const PROBE_TIMEOUT_MS = 15_000;

/**
 * Asks a QEMU binary whether it can start with an accelerator: it starts a machine with no
 * devices and no guest (`-machine none`), which still initialises the accelerator and fails
 * when it cannot (WHPX with the Hypervisor Platform off, a KVM device it may not use), and
 * quits through QMP. This is how Windows hosts confirm WHPX; the run step asks the stick's
 * player the same way. It cannot tell that a guest will run well once started.
 * `qemu` is a binary to run as it is, or how to start a player with these QEMU arguments (the
 * stick's player goes through its loader: src/player/start-player.ts `playerCommand`).
 */
export function askPlayer(qemu: string | PlayerLaunch): (accelerator: QemuAccelerator) => Promise<boolean> {
  return (accelerator) =>
    new Promise<boolean>((resolve) => {
      const qemuArgs = ["-machine", "none", "-accel", accelerator, "-nodefaults", "-display", "none", "-qmp", "stdio"];
      const run = typeof qemu === "string" ? { command: qemu, args: qemuArgs } : qemu(qemuArgs);
      const child = spawn(run.command, run.args, {
        stdio: ["pipe", "ignore", "ignore"],
        timeout: PROBE_TIMEOUT_MS,
        ...("env" in run ? { env: run.env } : {}),
      });
      child.on("error", () => {
        resolve(false);
      });
      child.on("close", (code) => {
        resolve(code === 0);
      });
      child.stdin.on("error", () => undefined); // a player that failed already has closed its end
      child.stdin.end('{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n');
    });
}
