import { spawnSync } from "node:child_process";

/** Runs a build tool to completion and returns its stdout; a failure throws with its stderr. */
export function runSync(cmd: string, args: string[], input?: Buffer): Buffer {
  const r = spawnSync(cmd, args, { maxBuffer: 256 * 1024 * 1024, ...(input === undefined ? {} : { input }) });
  if (r.error !== undefined) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr.toString().trim()}`);
  return r.stdout;
}
