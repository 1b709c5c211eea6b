// Time from starting `stickvm run` to QEMU running (the launcher's "the guest is running", printed
// once QEMU answers on QMP), with the passphrase KDF timed on its own, and QEMU started bare with
// the same kind of machine as the baseline. Used by exe-bench.ts.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildStick, BUILD_DEFAULTS } from "../../src/admin/build.js";
import { keygen } from "../../src/admin/keygen.js";
import { argon2id, type Argon2Params } from "../../src/crypto/kdf.js";
import { QmpClient } from "../../src/player/qmp.js";

const MiB = 1024 * 1024;
const PASSPHRASE = "bench passphrase";

/** Seconds from spawning `argv` until a line of stderr matches `ready`; then SIGTERM and wait for the end. */
async function secondsUntil(argv: readonly string[], ready: RegExp, env: Record<string, string>): Promise<number> {
  const [program, ...args] = argv;
  if (program === undefined) throw new Error("empty command");
  const t0 = process.hrtime.bigint();
  const child = spawn(program, args, { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  const ended = new Promise<void>((resolve) => {
    child.on("error", (e) => { err += e.message; resolve(); });
    child.on("close", () => { resolve(); });
  });
  const seconds = await new Promise<number>((resolve, reject) => {
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      err += d;
      if (ready.test(err)) resolve(Number(process.hrtime.bigint() - t0) / 1e9);
    });
    void ended.then(() => { reject(new Error(`${argv.join(" ")} ended before ${String(ready)}: ${err}`)); });
  });
  child.kill("SIGTERM");
  await ended;
  return seconds;
}

/** Seconds from spawning QEMU (q35, TCG, no display, a QMP socket) until it answers on QMP. */
export async function qemuAloneSeconds(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), "stickvm-run-bench-"));
  try {
    const socket = join(dir, "qmp.sock");
    const t0 = process.hrtime.bigint();
    const child = spawn("qemu-system-x86_64", ["-nodefaults", "-no-user-config", "-machine", "q35", "-accel", "tcg", "-m", "256", "-display", "none", "-qmp", `unix:${socket},server=on,wait=off`], { stdio: "ignore" });
    const qmp = await QmpClient.connect({ socket }, { timeoutMs: 30_000, alive: () => child.exitCode === null });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await qmp.execute("quit").catch(() => undefined);
    qmp.close();
    await new Promise((resolve) => child.on("close", resolve));
    return seconds;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface BenchStick {
  dir: string;
  stick: string;
  kdf: Argon2Params;
}

/** A small stick (8 MiB of random system disk) with the given KDF parameters. */
export async function makeBenchStick(kdf: Argon2Params): Promise<BenchStick> {
  const dir = await mkdtemp(join(tmpdir(), "stickvm-run-bench-"));
  const image = join(dir, "image.raw");
  await writeFile(image, randomBytes(8 * MiB));
  const stick = join(dir, "stick");
  await buildStick({
    ...BUILD_DEFAULTS, image, out: stick, signingKey: (await keygen(join(dir, "keys"))).secretKey, passphrase: PASSPHRASE,
    chunkSize: 64 * 1024, userSize: 16 * MiB, localSize: 16 * MiB, kdf, threads: 2,
  });
  return { dir, stick, kdf };
}

/** Seconds from starting `launcher run --headless` (launcher: the executable, or node and the script) on the stick until QEMU runs. */
export function runStartSeconds(launcher: readonly string[], s: BenchStick): Promise<number> {
  return secondsUntil([...launcher, "run", "--stick", s.stick, "--headless", "--powerdown-timeout", "1"], /the guest is running/, { STICKVM_PASSPHRASE: PASSPHRASE });
}

/** Seconds argon2id takes with these parameters, in this process. */
export async function kdfSeconds(p: Argon2Params): Promise<number> {
  const t0 = process.hrtime.bigint();
  await argon2id(PASSPHRASE, randomBytes(16), p);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
