import { createInterface } from "node:readline/promises";

/**
 * Policy `host: "ask"` on a terminal: whether this computer is the person's own (a trusted host
 * keeps the encrypted cache of the system for faster starts). Undefined when there is no
 * terminal to ask on: the host is then treated as a kiosk, and asked about next time.
 */
export function terminalTrustQuestion(): (() => Promise<boolean>) | undefined {
  if (!process.stdin.isTTY) return undefined;
  return async () => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    try {
      const answer = await rl.question("stickvm: is this computer your own? If so, an encrypted copy of the system's blocks stays on it for faster starts; on a shared or public computer answer no [y/N] ");
      return /^\s*y(es)?\s*$/i.test(answer);
    } finally {
      rl.close();
    }
  };
}
