// Helpers of the benchmarks: run one command under /usr/bin/time, time it, sync, size its output.
import { execFileSync, spawn } from "node:child_process";
import { lstat, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Contender {
  /** Short id, also the output's name. */
  key: string;
  /** Row label in the table (markdown). */
  label: string;
  /** File or folder the command writes; measured, then deleted. */
  output: string;
  /** Other files the command writes (deleted, not measured). */
  extraOutputs: string[];
  /**
   * The parts of `output` (paths inside it) that the size target counts, for a stick the base it
   * stores; absent: all of it.
   */
  stored?: string[];
  /** argv; [0] is the program. */
  command: string[];
  env?: Record<string, string>;
  /** The command as printed in BENCHMARKS.md. */
  display: string;
}

export interface RunResult {
  /** Wall time of the command plus the `sync` after it. */
  seconds: number;
  syncSeconds: number;
  outputBytes: number;
  outputAllocatedBytes: number;
  /** Apparent bytes of the contender's `stored` parts (all of the output when it names none). */
  storedBytes: number;
  /** Peak resident set of the process in KiB; undefined if it could not be read. */
  peakRssKiB: number | undefined;
  /** User plus system CPU seconds of the process (all its threads); undefined without /usr/bin/time. */
  cpuSeconds: number | undefined;
  /** CPU time the hypervisor took from this VM during the run (all cores; /proc/stat "steal"); undefined if unknown. */
  stealSeconds: number | undefined;
  /**
   * CPU seconds the machine spent busy during the run beyond what the command itself used (/proc/stat
   * minus GNU time's user+sys): other processes, and the kernel's own work such as writeback; undefined
   * without /usr/bin/time or /proc/stat. Large values mean something else competed for the cores.
   */
  otherCpuSeconds: number | undefined;
  stdout: string;
}

const KEEP_OUTPUT = 64 * 1024;

export function formatCell(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** Apparent and allocated bytes of a file, or of every file under a folder. */
export async function treeSize(path: string): Promise<{ apparent: number; allocated: number }> {
  const st = await lstat(path);
  if (!st.isDirectory()) return { apparent: st.size, allocated: st.blocks * 512 };
  let apparent = 0;
  let allocated = 0;
  for (const name of await readdir(path)) {
    const s = await treeSize(join(path, name));
    apparent += s.apparent;
    allocated += s.allocated;
  }
  return { apparent, allocated };
}

function vmHwmKiB(text: string): number | undefined {
  const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(text);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** Clock ticks per second of /proc/stat (USER_HZ; 100 on Linux unless `getconf CLK_TCK` says otherwise). */
export const USER_HZ = (() => {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

interface CpuTicks {
  /** user + nice + system + irq + softirq of all CPUs (guest time is inside user). */
  busy: number;
  steal: number;
}

/** Busy and steal ticks of all CPUs so far, or undefined when /proc/stat cannot say. */
export async function cpuTicks(): Promise<CpuTicks | undefined> {
  const text = await readFile("/proc/stat", "utf8").catch(() => "");
  const f = /^cpu\s+(.+)$/m.exec(text)?.[1]?.trim().split(/\s+/).map(Number);
  if (f === undefined || f.length < 8 || f.some((x) => !Number.isFinite(x))) return undefined;
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return { busy: user + nice + system + irq + softirq, steal };
}

/**
 * Waits until the machine has been close to idle (less than `maxBusyCores` of CPU busy, averaged over
 * `windowMs`) or `timeoutMs` has passed, so a run does not start in the middle of someone else's work
 * on a shared machine. Returns the seconds waited and whether a quiet window was found.
 */
export async function waitForIdle(timeoutMs: number, windowMs = 1000, maxBusyCores = 0.15): Promise<{ seconds: number; idle: boolean }> {
  const t0 = Date.now();
  const elapsed = (): number => (Date.now() - t0) / 1000;
  if (timeoutMs <= 0) return { seconds: 0, idle: true };
  for (;;) {
    const a = await cpuTicks();
    if (a === undefined) return { seconds: elapsed(), idle: true };
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const b = await cpuTicks();
    if (b === undefined) return { seconds: elapsed(), idle: true };
    if ((b.busy - a.busy) / USER_HZ / (windowMs / 1000) < maxBusyCores) return { seconds: elapsed(), idle: true };
    if (Date.now() - t0 >= timeoutMs) return { seconds: elapsed(), idle: false };
  }
}

/** Runs the command (under /usr/bin/time when `useTime`), then `sync`; measures, then deletes the output. */
export async function runContender(c: Contender, useTime: boolean): Promise<RunResult> {
  const [program, ...args] = c.command;
  if (program === undefined) throw new Error(`${c.key}: empty command`);
  const rssFile = join(tmpdir(), `stickvm-bench-rss-${String(process.pid)}-${c.key}`);
  const argv = useTime ? ["/usr/bin/time", "-f", "%M %U %S", "-o", rssFile, program, ...args] : [program, ...args];
  const ticks0 = await cpuTicks();
  const t0 = process.hrtime.bigint();
  const child = spawn(argv[0] ?? program, argv.slice(1), {
    env: { ...process.env, ...c.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    if (stdout.length < KEEP_OUTPUT) stdout += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    if (stderr.length < KEEP_OUTPUT) stderr += d;
  });
  // Without /usr/bin/time: VmHWM is the kernel's high-water mark, so the last poll is a close lower bound.
  let polled: number | undefined;
  const timer = useTime
    ? undefined
    : setInterval(() => {
        const pid = child.pid;
        if (pid === undefined) return;
        readFile(`/proc/${String(pid)}/status`, "utf8")
          .then((t) => {
            const kib = vmHwmKiB(t);
            if (kib !== undefined) polled = Math.max(polled ?? 0, kib);
          })
          .catch(() => undefined);
      }, 20);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (exitCode) => {
      resolve(exitCode);
    });
  });
  const t1 = process.hrtime.bigint();
  if (timer !== undefined) clearInterval(timer);
  if (code !== 0) {
    throw new Error(`${c.display} failed with exit code ${String(code)}:\n${stderr.slice(-4000)}`);
  }
  execFileSync("sync");
  const t2 = process.hrtime.bigint();
  const ticks1 = await cpuTicks();

  let peakRssKiB = polled;
  let cpuSeconds: number | undefined;
  if (useTime) {
    const text = await readFile(rssFile, "utf8").catch(() => "");
    const m = /^(\d+) (\d+(?:\.\d+)?) (\d+(?:\.\d+)?)$/.exec(text.trim().split("\n").pop() ?? "");
    peakRssKiB = m?.[1] === undefined ? undefined : Number(m[1]);
    cpuSeconds = m?.[2] === undefined || m[3] === undefined ? undefined : Number(m[2]) + Number(m[3]);
    await rm(rssFile, { force: true });
  }
  const size = await treeSize(c.output);
  let storedBytes = size.apparent;
  if (c.stored !== undefined) {
    storedBytes = 0;
    for (const part of c.stored) storedBytes += (await treeSize(join(c.output, part))).apparent;
  }
  for (const p of [c.output, ...c.extraOutputs]) await rm(p, { recursive: true, force: true });
  execFileSync("sync");
  return {
    seconds: Number(t2 - t0) / 1e9,
    syncSeconds: Number(t2 - t1) / 1e9,
    outputBytes: size.apparent,
    outputAllocatedBytes: size.allocated,
    storedBytes,
    peakRssKiB,
    cpuSeconds,
    stealSeconds: ticks0 === undefined || ticks1 === undefined ? undefined : (ticks1.steal - ticks0.steal) / USER_HZ,
    otherCpuSeconds:
      ticks0 === undefined || ticks1 === undefined || cpuSeconds === undefined ? undefined : Math.max(0, (ticks1.busy - ticks0.busy) / USER_HZ - cpuSeconds),
    stdout,
  };
}
