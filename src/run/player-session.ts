import { spawn } from "node:child_process";
import { PlayerFailedError } from "../errors/errors.js";
import { QmpClient } from "../player/qmp.js";
import type { Endpoint } from "../player/qemu-args.js";
import type { PlayerCommand } from "../player/start-player.js";
import { attachTerminal, type Terminal } from "./guest-terminal.js";

/** QEMU's own stop after `quit`: it only closes its files, so a few seconds is plenty. */
const QUIT_GRACE_MS = 5_000;
const QMP_CONNECT_MS = 30_000;
const STDERR_TAIL_BYTES = 4096;

export interface PlayerSessionOptions {
  command: PlayerCommand;
  qmp: Endpoint;
  /** The guest's serial console on the terminal (QEMU was given `-serial stdio`). */
  headless: boolean;
  terminal: Terminal;
  /** Subscribes to stop requests (Ctrl-C, SIGTERM); returns the unsubscribe. */
  stopRequests: (listener: () => void) => () => void;
  /** How long the guest has to power off after a stop request before QEMU is stopped. */
  powerdownTimeoutMs: number;
  /** Runs once QEMU answers on QMP, which is after it has loaded the kernel and initrd. */
  onStarted?: () => Promise<void>;
  onStatus: (message: string) => void;
  /** The stick was pulled: QEMU is killed at once (its disks are gone; there is nothing to flush to). */
  stickGone?: AbortSignal;
}

/** How a session ended when it ended without a fault of the player: the guest powered off, a stop request, or a pulled stick. */
export type PlayerOutcome = { stoppedBy: "guest" } | { stoppedBy: "request"; guestPoweredOff: boolean } | { stoppedBy: "stick-removed" };

/**
 * Starts the player and waits for it to end. A stop request asks the guest to power off (QMP
 * `system_powerdown`, the ACPI power button); a second request, or `powerdownTimeoutMs`
 * without a power-off, stops QEMU (`quit`, then SIGKILL). Throws PlayerFailedError when QEMU
 * does not start, crashes, or is stopped by anything else (a signal from outside, say).
 */
export async function runPlayerSession(o: PlayerSessionOptions): Promise<PlayerOutcome> {
  // A process group of its own: a signal to the launcher's group (a terminal's Ctrl-C, `timeout`,
  // a service manager) must reach the launcher only, which asks the guest to power off, and
  // not kill QEMU before the guest could flush.
  const child = spawn(o.command.command, o.command.args, {
    env: o.command.env,
    stdio: [o.headless ? "pipe" : "ignore", o.headless ? "pipe" : "ignore", "pipe"],
    detached: true,
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (d: string) => { stderr = (stderr + d).slice(-STDERR_TAIL_BYTES); });
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once("error", (error) => { resolve({ code: null, signal: null, error }); });
    child.once("close", (code, signal) => { resolve({ code, signal }); });
  });
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const failed = (why: string): PlayerFailedError => {
    const tail = stderr.trim();
    return new PlayerFailedError(`${why}${tail === "" ? "" : `; QEMU said: ${tail}`}`);
  };

  let requests = 0;
  let qmp: QmpClient | undefined;
  const timers: NodeJS.Timeout[] = [];
  const forceStop = (why: string): void => {
    o.onStatus(`${why}: stopping the player`);
    qmp?.execute("quit").catch(() => undefined);
    timers.push(setTimeout(() => { if (alive()) child.kill("SIGKILL"); }, QUIT_GRACE_MS));
  };
  const requestStop = (): void => {
    requests++;
    // before QEMU answers on QMP the guest has not run, so there is nothing to flush
    if (qmp === undefined) {
      if (alive()) child.kill("SIGKILL");
    } else if (requests === 1) {
      o.onStatus(`asking the guest to power off (up to ${Math.round(o.powerdownTimeoutMs / 1000)} s; Ctrl-C again stops it at once)`);
      qmp.execute("system_powerdown").catch(() => undefined);
      timers.push(setTimeout(() => { forceStop(`the guest did not power off within ${Math.round(o.powerdownTimeoutMs / 1000)} s`); }, o.powerdownTimeoutMs));
    } else if (requests === 2) forceStop("asked again");
  };
  const unsubscribe = o.stopRequests(requestStop);
  const onStickGone = (): void => {
    if (alive()) child.kill("SIGKILL");
  };
  o.stickGone?.addEventListener("abort", onStickGone, { once: true });
  if (o.stickGone?.aborted === true) onStickGone();
  let detach: (() => void) | undefined;
  try {
    try {
      qmp = await QmpClient.connect(o.qmp, { timeoutMs: QMP_CONNECT_MS, alive });
    } catch (err) {
      if (alive()) child.kill("SIGKILL");
      const end = await ended;
      if (o.stickGone?.aborted === true) return { stoppedBy: "stick-removed" };
      if (requests > 0) return { stoppedBy: "request", guestPoweredOff: false };
      if (end.error !== undefined) throw failed(`the player ${o.command.command} cannot be started: ${end.error.message}`);
      throw failed(`the player did not start (${(err as Error).message}; ${describeEnd(end.code, end.signal)})`);
    }
    let shutdownReason: string | undefined;
    qmp.on("event", (e) => {
      if (e.event === "SHUTDOWN") shutdownReason = String(e.data.reason);
    });
    detach = attachTerminal(o.terminal, o.headless && child.stdin && child.stdout ? { stdin: child.stdin, stdout: child.stdout } : undefined, requestStop);
    try {
      await o.onStarted?.();
    } catch (err) {
      forceStop("the session cannot go on");
      throw err;
    }
    const end = await ended;
    if (o.stickGone?.aborted === true) return { stoppedBy: "stick-removed" };
    if (requests > 0) return { stoppedBy: "request", guestPoweredOff: shutdownReason === "guest-shutdown" };
    if (shutdownReason === "guest-shutdown" && end.code === 0) return { stoppedBy: "guest" };
    if (shutdownReason === "host-signal") throw failed("the player was stopped by a signal from outside stickvm before the guest powered off");
    throw failed(`the player stopped unexpectedly (${describeEnd(end.code, end.signal)})`);
  } finally {
    await ended;
    unsubscribe();
    o.stickGone?.removeEventListener("abort", onStickGone);
    detach?.();
    qmp?.close();
    for (const t of timers) clearTimeout(t);
  }
}

function describeEnd(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal !== null) return `killed by ${signal}`;
  return code === null ? "no exit status" : `exit status ${code}`;
}
