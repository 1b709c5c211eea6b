import type { RunOptions } from "../run/run-stick.js";
import { onStopSignals } from "./stop-signals.js";
import { terminalTrustQuestion } from "./ask-trust.js";

/** How a CLI's `run` talks to its person: the guest on this terminal, progress and warnings on stderr, signals as stop requests. */
export function terminalRunIo(): Pick<RunOptions, "terminal" | "stopRequests" | "onStatus" | "onWarning" | "askTrust"> {
  const askTrust = terminalTrustQuestion();
  return {
    ...(askTrust === undefined ? {} : { askTrust }),
    terminal: { input: process.stdin, output: process.stdout },
    stopRequests: onStopSignals,
    onStatus: (message) => {
      process.stderr.write(`stickvm: ${message}\n`);
    },
    onWarning: (message) => {
      process.stderr.write(`warning: ${message}\n`);
    },
  };
}
