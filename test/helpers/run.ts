// Starts `stickvm run` as a real process with its terminal on pipes, as a script would.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { PASSPHRASE } from "./sticks.js";
import { STICKVM } from "./serve.js";

export interface Running {
  proc: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  /** Resolves when stdout or stderr (as chosen) matches, rejects after `ms` or if the process ends first. */
  waitFor: (pattern: RegExp, ms: number, stream?: "stdout" | "stderr") => Promise<void>;
  /** The exit code (null when killed by a signal). */
  exited: Promise<number | null>;
}

/** `launcher` runs stickvm: the compiled script by default, or a single executable. */
export function startRun(args: string[], o: { env?: Record<string, string>; launcher?: readonly string[] } = {}): Running {
  const [command = process.execPath, ...before] = o.launcher ?? [process.execPath, STICKVM];
  const proc = spawn(command, [...before, "run", ...args], { env: { ...process.env, STICKVM_PASSPHRASE: PASSPHRASE, ...o.env }, stdio: "pipe" });
  let out = "";
  let err = "";
  proc.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  proc.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  // "close" waits for stdout and stderr to end; should anything else hold those pipes open, the
  // test must not wait for it: two seconds after "exit" the pipes are dropped
  const exited = new Promise<number | null>((resolve) => {
    proc.once("exit", (code) => {
      const grace = setTimeout(() => {
        for (const s of [proc.stdin, proc.stdout, proc.stderr]) s.destroy();
        resolve(code);
      }, 2000);
      proc.once("close", () => {
        clearTimeout(grace);
        resolve(code);
      });
    });
  });
  const waitFor = (pattern: RegExp, ms: number, stream: "stdout" | "stderr" = "stdout"): Promise<void> =>
    new Promise((resolve, reject) => {
      const text = (): string => (stream === "stdout" ? out : err);
      const check = (): void => {
        if (!pattern.test(text())) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => { done(); reject(new Error(`no ${String(pattern)} on ${stream} within ${ms} ms\nstdout: ${out.slice(-2000)}\nstderr: ${err}`)); }, ms);
      const ended = (): void => { done(); reject(new Error(`stickvm run ended before ${String(pattern)}\nstdout: ${out.slice(-2000)}\nstderr: ${err}`)); };
      void exited.then(ended);
      const done = (): void => {
        clearTimeout(timer);
        proc.stdout.off("data", check);
        proc.stderr.off("data", check);
      };
      proc.stdout.on("data", check);
      proc.stderr.on("data", check);
      check();
    });
  return { proc, stdout: () => out, stderr: () => err, waitFor, exited };
}
