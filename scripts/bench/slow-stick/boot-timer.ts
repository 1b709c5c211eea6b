// Times one boot: from spawning the command to the guest's marker line on its stdout (the guest's
// serial console: QEMU's -serial stdio, or `stickvm run --headless`), then waits for the command
// to end, since the next run needs the stick, the cache and the cgroup to itself.
import { spawn } from "node:child_process";

export interface BootOptions {
  argv: readonly string[];
  env: Readonly<Record<string, string>>;
  marker: string;
  /** A guest line printed before the timed work; its time is reported too. */
  reading: string;
  /** A stderr line of the launcher's worth timing (stickvm's "the guest is running"), and what to do when it comes. */
  started?: RegExp;
  onStarted?: () => void;
  /** Called the moment the marker is seen (to read counters as they stand at the marker). */
  onMarker?: () => void;
  /** The whole run, marker and exit, must fit in this. */
  timeoutMs: number;
  signal: AbortSignal;
}

export interface BootTiming {
  /** Seconds from spawn to the marker, and to the command's end. */
  seconds: number;
  endSeconds: number;
  /** Seconds from spawn to the `reading` line, and to the `started` line (undefined when not asked or not seen). */
  readingAt: number | undefined;
  startedAt: number | undefined;
  stdout: string;
  stderr: string;
}

const KEEP = 64 * 1024;
/** After SIGTERM (stickvm asks its guest to power off), this long before SIGKILL. */
const KILL_GRACE_MS = 15_000;

export async function timeBoot(o: BootOptions): Promise<BootTiming> {
  const [program, ...args] = o.argv;
  if (program === undefined) throw new Error("empty command");
  if (o.signal.aborted) throw new Error("interrupted");
  const t0 = process.hrtime.bigint();
  const since = (): number => Number(process.hrtime.bigint() - t0) / 1e9;
  const child = spawn(program, args, { env: { ...process.env, ...o.env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let seconds: number | undefined;
  let readingAt: number | undefined;
  let startedAt: number | undefined;
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    const now = since();
    stdout = (stdout + d).slice(-KEEP);
    if (readingAt === undefined && stdout.includes(o.reading)) readingAt = now;
    if (seconds === undefined && stdout.includes(o.marker)) {
      seconds = now;
      o.onMarker?.();
    }
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    const now = since();
    stderr = (stderr + d).slice(-KEEP);
    if (startedAt === undefined && o.started?.test(stderr) === true) {
      startedAt = now;
      o.onStarted?.();
    }
  });
  let why: string | undefined;
  const stop = (reason: string): void => {
    why ??= reason;
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS).unref();
  };
  const timer = setTimeout(() => { stop(`no end within ${String(o.timeoutMs / 1000)} s`); }, o.timeoutMs);
  const onAbort = (): void => { stop("interrupted"); };
  o.signal.addEventListener("abort", onAbort, { once: true });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  }).finally(() => {
    clearTimeout(timer);
    o.signal.removeEventListener("abort", onAbort);
  });
  const tails = `\nstdout (end): ${stdout.slice(-1500)}\nstderr (end): ${stderr.slice(-3000)}`;
  if (why !== undefined) throw new Error(`${o.argv.join(" ")}: ${why}${tails}`);
  if (seconds === undefined) throw new Error(`${o.argv.join(" ")} ended (exit code ${String(code)}) without "${o.marker}"${tails}`);
  if (code !== 0) throw new Error(`${o.argv.join(" ")} printed the marker but failed with exit code ${String(code)}${tails}`);
  return { seconds, endSeconds: since(), readingAt, startedAt, stdout, stderr };
}
