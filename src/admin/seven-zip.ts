// Runs 7-Zip (7zip-bin's 7za) for stick archives, with node-7z reading its output. The
// passphrase never goes on the command line, where `ps` shows it to every user of the host:
// given a bare -p, or meeting an encrypted archive, 7za asks for it with getpass(), which
// reads from stdin when the process has no controlling terminal. So 7za runs in a session of
// its own (detached: setsid) and the passphrase goes down its stdin.
import { spawn } from "node:child_process";
import { chmod, stat, statfs } from "node:fs/promises";
import sevenBin from "7zip-bin";
import Seven from "node-7z";

/** npm 11 installs 7zip-bin's binary without its execute bit (DESIGN section 8). */
export async function sevenZipBinary(): Promise<string> {
  const bin = sevenBin.path7za;
  const mode = (await stat(bin)).mode;
  if ((mode & 0o111) === 0) await chmod(bin, mode | 0o755);
  return bin;
}

export interface SevenZipRun {
  /** 7za's arguments, command letter first. */
  args: string[];
  /** node-7z's parser for that command (its own arguments are not used: `$childProcess` is). */
  parser: (options: Seven.SevenZipOptions) => Seven.ZipStream;
  /** The answer to each password prompt: `add` with a bare -p asks twice (the second to confirm). */
  passphrase: string;
  prompts: 1 | 2;
  cwd?: string;
  onProgress?: (percent: number) => void;
  onEntry?: (entry: Seven.Data) => void;
  signal?: AbortSignal;
}

export interface SevenZipOutcome {
  /** 7za's exit code: 0 ok, 1 warning, 2 fatal error, 7 bad command line, 8 out of memory; null when killed. */
  code: number | null;
  /** What 7za wrote on stderr: its errors. */
  stderr: string;
  aborted: boolean;
}

export async function runSevenZip(run: SevenZipRun): Promise<SevenZipOutcome> {
  const child = spawn(await sevenZipBinary(), run.args, {
    cwd: run.cwd,
    detached: true,
    stdio: "pipe",
    windowsHide: true,
    // getpass() turns the typed bytes into a password with the locale: UTF-8, as 7-Zip elsewhere reads it
    env: process.platform === "linux" ? { ...process.env, LC_ALL: "C.UTF-8" } : process.env,
  });
  const parsed = run.parser({ $defer: true, $progress: true, $childProcess: child });
  Seven.listen(parsed);
  if (run.onProgress !== undefined) parsed.on("progress", (p) => run.onProgress?.(p.percent));
  if (run.onEntry !== undefined) parsed.on("data", (d) => run.onEntry?.(d));
  parsed.on("error", () => undefined); // node-7z's guess from stderr; the exit code and stderr below decide
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.stdin.on("error", () => undefined); // 7za may end without reading its stdin
  child.stdin.end(`${run.passphrase}\n`.repeat(run.prompts));
  let aborted = false;
  const abort = (): void => {
    aborted = true;
    child.kill("SIGKILL");
  };
  run.signal?.addEventListener("abort", abort, { once: true });
  if (run.signal?.aborted === true) abort();
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", resolve);
    });
    return { code, stderr, aborted };
  } finally {
    run.signal?.removeEventListener("abort", abort);
  }
}

/** Whether the file system of `dir` is (nearly) full: 7-Zip says only E_FAIL when a write fails for want of space. */
export async function diskNearlyFull(dir: string): Promise<boolean> {
  const s = await statfs(dir).catch(() => undefined);
  return s !== undefined && s.bavail * s.bsize < 1024 * 1024;
}
