// startNbdServer: the listening socket and its connections.
import { createServer, type Server } from "node:net";
import { Connection } from "./connection.js";
import { POOLED_READ_BYTES } from "./limits.js";
import { ReadBuffers } from "./read-buffers.js";
import type { NbdExports, NbdLog } from "./session.js";
import { quietRepeats } from "./quiet-repeats.js";

export type { NbdExport, NbdExports, NbdLog } from "./session.js";

export interface NbdServerOptions {
  exports: NbdExports;
  /** A Unix socket path, or a TCP port on 127.0.0.1 only (0: any free port). */
  listen: { socket: string } | { port: number };
  log?: NbdLog;
}

export interface NbdServer {
  /** The socket path, or the bound TCP address. */
  readonly address: { socket: string } | { host: string; port: number };
  /** An NBD URI for one export (nbd+unix:///name?socket=… or nbd://127.0.0.1:port/name). */
  uri(exportName: string): string;
  /** Stops accepting, lets requests in flight finish and be answered, closes connections. Devices stay open. */
  close(): Promise<void>;
}

/** The only address a TCP server of stickvm binds: the host itself, never its network. */
export const LOOPBACK = "127.0.0.1";

function listen(server: Server, on: NbdServerOptions["listen"]): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    const ready = (): void => {
      server.off("error", reject);
      resolve();
    };
    if ("socket" in on) server.listen(on.socket, ready);
    else server.listen(on.port, LOOPBACK, ready);
  });
}

function boundPort(server: Server): number {
  const bound = server.address();
  if (bound === null || typeof bound === "string") throw new Error("a TCP listener without a port");
  return bound.port;
}

export async function startNbdServer(options: NbdServerOptions): Promise<NbdServer> {
  const log: NbdLog = quietRepeats(options.log ?? (() => undefined));
  const connections = new Set<Connection>();
  const buffers = new ReadBuffers(POOLED_READ_BYTES);
  // Half-open sockets stay open so that requests sent before a client's FIN still get replies.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const connection = new Connection(socket, options.exports, log, buffers);
    connections.add(connection);
    void connection.done.then(() => connections.delete(connection));
  });
  await listen(server, options.listen);
  server.on("error", (err) => {
    log("warn", `NBD server socket: ${err.message}`);
  });

  const address = "socket" in options.listen ? { socket: options.listen.socket } : { host: LOOPBACK, port: boundPort(server) };

  let closing: Promise<void> | null = null;
  return {
    address,
    uri(name: string): string {
      const path = encodeURIComponent(name);
      return "socket" in address ? `nbd+unix:///${path}?socket=${address.socket}` : `nbd://${address.host}:${address.port}/${path}`;
    },
    close(): Promise<void> {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => {
          server.close(() => {
            resolve();
          });
        });
        for (const c of connections) c.stop();
        await Promise.all([...connections].map((c) => c.done));
        await stopped;
      })();
      return closing;
    },
  };
}
