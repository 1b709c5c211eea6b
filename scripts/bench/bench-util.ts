// Small helpers the benchmarks share: logging, medians, running commands, dropping the page
// cache, machine facts, process memory, and replacing one section of BENCHMARKS.md.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, totalmem } from "node:os";

/** A progress logger to stderr, each line tagged with the benchmark's name. */
export function makeLog(tag: string): (text: string) => void {
  return (text) => {
    process.stderr.write(`[${tag}] ${text}\n`);
  };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  const hi = s[mid] ?? Number.NaN;
  return s.length % 2 === 1 ? hi : ((s[mid - 1] ?? Number.NaN) + hi) / 2;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** stdout, else stderr, of a short command, trimmed ("unknown" if it cannot run). */
export function capture(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (r.error !== undefined) return "unknown";
  const out = r.stdout.trim();
  const text = out.length > 0 ? out : r.stderr.trim();
  return text.length > 0 ? text : "unknown";
}

/** `sync; echo 3 > /proc/sys/vm/drop_caches`, so the next run reads from the disk; false when not allowed (not root). */
export async function dropCaches(): Promise<boolean> {
  execFileSync("sync");
  try {
    await writeFile("/proc/sys/vm/drop_caches", "3\n");
    return true;
  } catch {
    return false;
  }
}

export function firstLine(text: string): string {
  return text.split("\n")[0]?.trim() ?? "";
}

export interface RunOutput {
  seconds: number;
  stdout: string;
  stderr: string;
}

const KEEP = 256 * 1024;

/** Runs a command to its end; throws with its stderr when it fails. `seconds` is its wall time. */
export async function run(argv: readonly string[], env?: Readonly<Record<string, string>>): Promise<RunOutput> {
  const [program, ...args] = argv;
  if (program === undefined) throw new Error("empty command");
  const t0 = process.hrtime.bigint();
  const child = spawn(program, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    if (stdout.length < KEEP) stdout += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    if (stderr.length < KEEP) stderr += d;
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (c) => {
      resolve(c);
    });
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (code !== 0) throw new Error(`${argv.join(" ")} failed with exit code ${String(code)}:\n${stderr.slice(-4000)}`);
  return { seconds, stdout, stderr };
}

/** VmHWM (peak resident set) and VmRSS of a live process in KiB, or undefined once it is gone. */
export async function processMemory(pid: number): Promise<{ hwmKiB: number; rssKiB: number } | undefined> {
  const text = await readFile(`/proc/${String(pid)}/status`, "utf8").catch(() => "");
  const hwm = /^VmHWM:\s+(\d+)\s+kB$/m.exec(text)?.[1];
  const rss = /^VmRSS:\s+(\d+)\s+kB$/m.exec(text)?.[1];
  if (hwm === undefined || rss === undefined) return undefined;
  return { hwmKiB: Number(hwm), rssKiB: Number(rss) };
}

function parentPid(pid: number): Promise<number | undefined> {
  return readFile(`/proc/${String(pid)}/stat`, "utf8").then(
    (t) => {
      // the command name (field 2) may hold spaces and parentheses: fields after the last ")"
      const after = t.slice(t.lastIndexOf(")") + 2).split(" ");
      const ppid = Number(after[1]);
      return Number.isInteger(ppid) && ppid > 0 ? ppid : undefined;
    },
    () => undefined,
  );
}

/**
 * Pids of other processes whose command line contains `pattern` (as `pgrep -f` sees them), leaving
 * out this process and its ancestors: `npm run bench` runs this script from a shell whose own command
 * line names the build benchmark too.
 */
export async function otherProcesses(pattern: string): Promise<number[]> {
  const r = spawnSync("pgrep", ["-f", pattern], { encoding: "utf8" });
  if (r.error !== undefined) return [];
  const mine = new Set<number>();
  for (let pid: number | undefined = process.pid; pid !== undefined && !mine.has(pid); pid = await parentPid(pid)) mine.add(pid);
  return r.stdout
    .split("\n")
    .map((x) => Number(x.trim()))
    .filter((x) => Number.isInteger(x) && x > 0 && !mine.has(x) && x !== r.pid);
}

export interface Machine {
  cpu: string;
  cores: number;
  ram: string;
  os: string;
  kernel: string;
  node: string;
  qemuNbd: string;
  nbdkit: string;
  nbdcopy: string;
  fio: string;
  commit: string;
}

export async function machine(root: string): Promise<Machine> {
  const cpuinfo = await readFile("/proc/cpuinfo", "utf8").catch(() => "");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? "unknown";
  const osRelease = await readFile("/etc/os-release", "utf8").catch(() => "");
  const status = capture("git", ["-C", root, "status", "--porcelain", "--untracked-files=no"]);
  return {
    cpu: model.trim(),
    cores: availableParallelism(),
    ram: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    os: /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(osRelease)?.[1] ?? "unknown",
    kernel: capture("uname", ["-srvm"]),
    node: process.version,
    qemuNbd: firstLine(capture("qemu-nbd", ["--version"])),
    nbdkit: firstLine(capture("nbdkit", ["--version"])),
    nbdcopy: capture("nbdcopy", ["--version"]).split("\n").join(", "),
    fio: firstLine(capture("fio", ["--version"])),
    commit: `${capture("git", ["-C", root, "rev-parse", "--short", "HEAD"])}${status.length > 0 && status !== "unknown" ? " + uncommitted changes" : ""}`,
  };
}

/** Replaces the section that starts with the line `heading` (up to the next "## " heading), or appends it; keeps the rest. */
export async function writeSection(file: string, heading: string, text: string): Promise<void> {
  let doc: string;
  try {
    doc = await readFile(file, "utf8");
  } catch {
    doc = "# Benchmarks\n\nMeasured numbers, one section per benchmark; each section is rewritten by the script that made it.\n\n";
  }
  const lines = doc.split("\n");
  const start = lines.findIndex((l) => l.trim() === heading);
  if (start < 0) {
    await writeFile(file, `${doc.replace(/\n*$/, "\n\n")}${text.trimEnd()}\n`);
    return;
  }
  let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  if (end < 0) end = lines.length;
  const before = lines.slice(0, start).join("\n").replace(/\n*$/, "");
  const after = lines.slice(end).join("\n").replace(/^\n*/, "");
  const parts = [before, text.trimEnd(), after].filter((p) => p.length > 0);
  await writeFile(file, `${parts.join("\n\n")}\n`);
}
