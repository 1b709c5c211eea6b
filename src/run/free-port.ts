import { createServer } from "node:net";
import { LOOPBACK } from "../nbd/server.js";

/**
 * A TCP port of 127.0.0.1 free right now, for a server QEMU opens itself (its QMP socket on a
 * host without Unix sockets). Another program could take it before QEMU does; QEMU then fails
 * to start and says so, which ends the session with its message.
 */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      server.close(() => {
        if (address === null || typeof address === "string") reject(new Error("no TCP port was bound"));
        else resolve(address.port);
      });
    });
  });
}
