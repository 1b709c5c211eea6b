/**
 * Turns the first SIGINT or SIGTERM into an abort: the command says `message` and winds down
 * through its own cleanup instead of dying mid-write. `dispose` gives the signals back.
 */
export function abortOnStopSignals(message: string): { signal: AbortSignal; dispose: () => void } {
  const abort = new AbortController();
  const onSignal = (): void => {
    process.stderr.write(`${message}\n`);
    abort.abort();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return {
    signal: abort.signal,
    dispose: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

/**
 * Calls `listener` on every SIGINT, SIGTERM and SIGHUP (a closed terminal) until disposed, so a
 * command with more than one step of stopping (ask, then insist) never dies of a second signal.
 */
export function onStopSignals(listener: () => void): () => void {
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const s of signals) process.on(s, listener);
  return () => {
    for (const s of signals) process.off(s, listener);
  };
}
