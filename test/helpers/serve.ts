// Starts `stickvm serve` as a real process and waits until it says "ready".
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { PASSPHRASE, REPO_ROOT } from "./sticks.js";

export const STICKVM = join(REPO_ROOT, "dist", "launcher", "stickvm.js");

export interface Served {
  proc: ChildProcess;
  exports: Map<string, { size: number; uri: string }>;
  output: () => string;
  /** SIGINT, then the exit code. */
  stop: () => Promise<number | null>;
}

/** `launcher` is the command that runs stickvm: the compiled script by default, or a single executable. */
export function serve(args: string[], env: Record<string, string> = {}, launcher: readonly string[] = [process.execPath, STICKVM]): Promise<Served> {
  const [command = process.execPath, ...before] = launcher;
  const proc = spawn(command, [...before, "serve", ...args], {
    env: { ...process.env, STICKVM_PASSPHRASE: PASSPHRASE, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => { resolve(code); }));
  proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr.on("data", (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`stickvm serve did not get ready: ${out}`));
    }, 30_000);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`stickvm serve exited with ${String(code)}: ${out}`));
    });
    proc.stdout.on("data", () => {
      if (!/^ready$/m.test(out)) return;
      clearTimeout(timer);
      const exports = new Map<string, { size: number; uri: string }>();
      for (const m of out.matchAll(/^(\w+)\t(\d+)\t(\S+)$/gm)) exports.set(m[1] ?? "", { size: Number(m[2]), uri: m[3] ?? "" });
      resolve({
        proc,
        exports,
        output: () => out,
        stop: () => {
          proc.kill("SIGINT");
          return exited;
        },
      });
    });
  });
}

/** Runs an NBD client tool (qemu-img, qemu-io, nbdcopy, …) and asserts it succeeded; gives its output. */
export function runClient(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}
