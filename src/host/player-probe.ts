import { spawn } from "node:child_process";
import type { QemuAccelerator } from "./accelerator.js";

/** Long enough for a cold start from a slow stick; a player that takes longer is not answering. */
const PROBE_TIMEOUT_MS = 15_000;

/**
 * Asks a QEMU binary whether it can start with an accelerator: it starts a machine with no
 * devices and no guest (`-machine none`), which still initialises the accelerator and fails
 * when it cannot (WHPX with the Hypervisor Platform off, a KVM device it may not use), and
 * quits through QMP. This is how Windows hosts confirm WHPX; the run step asks the stick's
 * player the same way. It cannot tell that a guest will run well once started.
 */
export function askPlayer(qemu: string): (accelerator: QemuAccelerator) => Promise<boolean> {
  return (accelerator) =>
    new Promise<boolean>((resolve) => {
      const child = spawn(qemu, ["-machine", "none", "-accel", accelerator, "-nodefaults", "-display", "none", "-qmp", "stdio"], {
        stdio: ["pipe", "ignore", "ignore"],
        timeout: PROBE_TIMEOUT_MS,
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
