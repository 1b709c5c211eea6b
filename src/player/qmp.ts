import { EventEmitter } from "node:events";
import { connect, type Socket } from "node:net";
import type { Endpoint } from "./qemu-args.js";
import { setTimeout as sleep } from "node:timers/promises";

/** A QMP event as QEMU sends it (`{"event": NAME, "data": {...}, "timestamp": {...}}`). */
export interface QmpEvent {
  event: string;
  data: Record<string, unknown>;
}

/** QEMU answered a command with `{"error": {"class": ..., "desc": ...}}`. */
export class QmpCommandError extends Error {}

type Pending = { resolve: (value: unknown) => void; reject: (err: Error) => void };

/**
 * A client of QEMU's machine protocol (QMP) on a Unix socket: one JSON object a line each
 * way; commands carry an id so their replies are matched, and events arrive in between
 * (emitted as "event"). "close" is emitted when QEMU goes away; pending commands then fail.
 */
export class QmpClient extends EventEmitter<{ event: [QmpEvent]; close: [] }> {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buffered = "";
  private closed = false;

  private constructor(private readonly socket: Socket) {
    super();
    socket.setEncoding("utf8");
    socket.on("data", (text: string) => { this.receive(text); });
    socket.on("error", () => undefined); // "close" follows and says it all
    socket.on("close", () => {
      this.closed = true;
      this.greetingWaiter?.reject(new Error("QEMU closed its QMP socket before its greeting"));
      for (const p of this.pending.values()) p.reject(new Error("QEMU closed its QMP socket"));
      this.pending.clear();
      this.emit("close");
    });
  }

  /**
   * Connects to the socket QEMU creates at start (`-qmp unix:PATH,server=on,wait=off`, or tcp:),
   * retrying until it appears, `alive()` says QEMU is gone, or `timeoutMs` passes; then
   * reads the greeting and leaves capabilities negotiation so commands can be sent.
   */
  static async connect(at: Endpoint, o: { timeoutMs: number; alive: () => boolean }): Promise<QmpClient> {
    const where = "socket" in at ? at.socket : `${at.host}:${String(at.port)}`;
    const deadline = Date.now() + o.timeoutMs;
    for (;;) {
      const socket = await new Promise<Socket | Error>((resolve) => {
        const s = "socket" in at ? connect(at.socket) : connect(at.port, at.host);
        s.once("connect", () => { resolve(s); });
        s.once("error", (err) => { resolve(err); });
      });
      if (!(socket instanceof Error)) {
        const client = new QmpClient(socket);
        await client.greeting();
        await client.execute("qmp_capabilities");
        return client;
      }
      if (!o.alive()) throw new Error("QEMU ended before its QMP socket opened");
      if (Date.now() > deadline) throw new Error(`QEMU's QMP socket ${where} did not open within ${o.timeoutMs} ms: ${socket.message}`);
      await sleep(25);
    }
  }

  /** Sends a command and resolves with its `return` value; a QMP error rejects with QmpCommandError. */
  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error("QEMU closed its QMP socket"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private greetingWaiter: Pending | undefined;

  private greeting(): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.closed) reject(new Error("QEMU closed its QMP socket before its greeting"));
      else this.greetingWaiter = { resolve, reject };
    });
  }

  private receive(text: string): void {
    this.buffered += text;
    let nl: number;
    while ((nl = this.buffered.indexOf("\n")) >= 0) {
      const line = this.buffered.slice(0, nl).trim();
      this.buffered = this.buffered.slice(nl + 1);
      if (line !== "") this.message(line);
    }
  }

  private message(line: string): void {
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // not ours to judge: QEMU speaks JSON; a torn line cannot happen on a stream socket
    }
    if ("QMP" in m) {
      this.greetingWaiter?.resolve(m.QMP);
      this.greetingWaiter = undefined;
    } else if (typeof m.event === "string") {
      this.emit("event", { event: m.event, data: (m.data ?? {}) as Record<string, unknown> });
    } else if (typeof m.id === "number") {
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      if ("error" in m) {
        const e = m.error as { class?: string; desc?: string };
        p.reject(new QmpCommandError(`${e.class ?? "Error"}: ${e.desc ?? "QMP command failed"}`));
      } else p.resolve(m.return);
    }
  }
}
