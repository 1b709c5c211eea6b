import type { Readable, Writable } from "node:stream";

/** The launcher's own terminal (process.stdin and process.stdout, or pipes in a test). */
export interface Terminal {
  input: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  output: Writable;
}

const CTRL_C = 0x03;

/**
 * Connects the terminal to the guest's serial console (when `guest` is given: QEMU's stdin and
 * stdout) for the session. A terminal is switched to raw mode, so keys reach the guest as typed
 * and Ctrl-C arrives as a byte instead of a SIGINT to the whole process group, which would kill
 * QEMU before the guest could flush; that byte calls `onInterrupt` (stop the session) and is
 * not passed on. Input that is not a terminal (a pipe, a file) is passed on untouched.
 * Returns the function that undoes it all.
 */
export function attachTerminal(t: Terminal, guest: { stdin: Writable; stdout: Readable } | undefined, onInterrupt: () => void): () => void {
  const raw = t.input.isTTY === true && typeof t.input.setRawMode === "function";
  if (raw) t.input.setRawMode?.(true);
  const onData = (bytes: Buffer): void => {
    let forward = bytes;
    if (raw && bytes.includes(CTRL_C)) {
      forward = Buffer.from(bytes.filter((b) => b !== CTRL_C));
      onInterrupt();
    }
    if (guest !== undefined && forward.length > 0 && guest.stdin.writable) guest.stdin.write(forward);
  };
  // a guest gone mid-write is reported by the player's exit, not by this pipe
  guest?.stdin.on("error", () => undefined);
  if (guest !== undefined || raw) t.input.on("data", onData);
  guest?.stdout.pipe(t.output, { end: false });
  return () => {
    t.input.off("data", onData);
    t.input.pause();
    if (raw) t.input.setRawMode?.(false);
    guest?.stdout.unpipe(t.output);
  };
}
