// The NBD servers the benchmark compares: `stickvm serve`, `qemu-nbd` and `nbdkit`, each started in the
// foreground on a Unix socket, kept running for the whole benchmark and stopped at the end.
import { type ChildProcess, spawn } from "node:child_process";
import { stat } from "node:fs/promises";
import { sleep } from "./bench-util.js";

export interface Server {
  /** Short id, used in logs. */
  key: string;
  /** argv as run. */
  argv: readonly string[];
  pid: number;
  /** NBD URI of each export this benchmark uses, by export name ("" for a server's only export). */
  uris: ReadonlyMap<string, string>;
  /** Ends the server: `signal`, then waits for it to exit (SIGKILL after `graceMs`). */
  stop(): Promise<void>;
  /** What the server wrote on stderr (the last 64 KiB). */
  stderr(): string;
}

interface Started {
  child: ChildProcess;
  exited: Promise<number | null>;
  stdout: () => string;
  stderr: () => string;
}

const KEEP = 64 * 1024;

function start(argv: readonly string[], env: Readonly<Record<string, string>> | undefined): Started {
  const [program, ...args] = argv;
  if (program === undefined) throw new Error("empty command");
  const child = spawn(program, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    if (out.length < KEEP) out += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    err = (err + d).slice(-KEEP);
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on("close", (code) => {
      resolve(code);
    });
    child.on("error", () => {
      resolve(null);
    });
  });
  return { child, exited, stdout: () => out, stderr: () => err };
}

async function until(what: string, s: Started, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const state = { gone: false };
  void s.exited.then(() => {
    state.gone = true;
  });
  const t0 = Date.now();
  for (;;) {
    if (await ready()) return;
    if (state.gone) throw new Error(`${what} exited before it was ready:\n${s.stderr().slice(-4000)}`);
    if (Date.now() - t0 > timeoutMs) {
      s.child.kill("SIGKILL");
      throw new Error(`${what} was not ready after ${String(timeoutMs / 1000)} s:\n${s.stderr().slice(-4000)}`);
    }
    await sleep(50);
  }
}

function socketExists(path: string): Promise<boolean> {
  return stat(path).then(
    (st) => st.isSocket(),
    () => false,
  );
}

function makeServer(key: string, argv: readonly string[], s: Started, uris: ReadonlyMap<string, string>, signal: NodeJS.Signals, graceMs: number): Server {
  const pid = s.child.pid;
  if (pid === undefined) throw new Error(`${key}: no pid`);
  return {
    key,
    argv,
    pid,
    uris,
    stderr: s.stderr,
    async stop(): Promise<void> {
      if (s.child.exitCode !== null || s.child.signalCode !== null) return;
      s.child.kill(signal);
      const timer = setTimeout(() => s.child.kill("SIGKILL"), graceMs);
      await s.exited;
      clearTimeout(timer);
    },
  };
}

/** `node dist/launcher/stickvm.js serve`: ready once it has printed its exports and "ready". */
export async function startStickvm(o: { node: string; launcher: string; stick: string; socket: string; passphrase: string; nodeFlags: readonly string[] }): Promise<Server> {
  const argv = [o.node, ...o.nodeFlags, o.launcher, "serve", "--stick", o.stick, "--socket", o.socket];
  const s = start(argv, { STICKVM_PASSPHRASE: o.passphrase });
  await until("stickvm serve", s, () => Promise.resolve(/^ready$/m.test(s.stdout())), 120_000);
  const uris = new Map<string, string>();
  for (const line of s.stdout().split("\n")) {
    const [name, , uri] = line.split("\t");
    if (name !== undefined && uri !== undefined) uris.set(name, uri);
  }
  return makeServer("stickvm", argv, s, uris, "SIGINT", 60_000);
}

/** A server that is ready once its Unix socket exists (qemu-nbd, nbdkit in the foreground). */
export async function startSocketServer(key: string, argv: readonly string[], socket: string, exportName: string): Promise<Server> {
  const s = start(argv, undefined);
  await until(key, s, () => socketExists(socket), 30_000);
  const uri = `nbd+unix:///${exportName}?socket=${socket}`;
  return makeServer(key, argv, s, new Map([[exportName, uri]]), "SIGTERM", 10_000);
}
