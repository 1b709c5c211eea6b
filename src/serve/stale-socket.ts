import { lstat, rm } from "node:fs/promises";
import { connect } from "node:net";
import { fileError, UsageError } from "../errors/errors.js";

/**
 * A server killed with SIGKILL leaves its Unix socket file behind, and listening on it then
 * fails. Remove such a file, but only if it is a socket that nobody answers on.
 */
export async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw fileError(err, "check", path);
  }
  if (!isSocket) throw new UsageError(`${path} exists and is not a socket; choose another --socket path`);
  const answered = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => {
      resolve(false);
    });
  });
  if (answered) throw new UsageError(`${path} is in use by another server`);
  await rm(path, { force: true });
}
