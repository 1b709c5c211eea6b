// Runs a short stickvm command (passwd, rejuvenate, wipe, …) as a real process.
import { spawnSync } from "node:child_process";
import { STICKVM } from "./serve.js";
import { PASSPHRASE } from "./sticks.js";

/** `env` goes over the test's own environment with STICKVM_PASSPHRASE set; a value of undefined removes that variable. */
export function stickvm(args: string[], env: Record<string, string | undefined> = {}): { status: number | null; stdout: string; stderr: string } {
  const merged = Object.fromEntries(
    Object.entries<string | undefined>({ ...process.env, STICKVM_PASSPHRASE: PASSPHRASE, ...env }).filter(([, v]) => v !== undefined),
  );
  const r = spawnSync(process.execPath, [STICKVM, ...args], { encoding: "utf8", env: merged, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
