import type { NbdLog } from "./session.js";

/** How long a warning, once printed, is only counted when it comes again. */
export const REPEAT_WINDOW_MS = 10_000;
/** Distinct warnings remembered; past that the memory starts over (a flood of distinct ones is printed). */
const REMEMBERED = 256;

/**
 * Wraps a log so that a warning seen again within REPEAT_WINDOW_MS is counted instead of
 * printed, and the count is told with its next print: a pulled stick fails every request of
 * every connection the same way, and one line says it as well as thousands.
 */
export function quietRepeats(log: NbdLog, now: () => number = Date.now): NbdLog {
  const seen = new Map<string, { printedMs: number; since: number }>();
  return (level, message) => {
    if (level !== "warn") {
      log(level, message);
      return;
    }
    const t = now();
    const last = seen.get(message);
    if (last !== undefined && t - last.printedMs < REPEAT_WINDOW_MS) {
      last.since += 1;
      return;
    }
    if (seen.size >= REMEMBERED) seen.clear();
    seen.set(message, { printedMs: t, since: 0 });
    log(level, last !== undefined && last.since > 0 ? `${message} (${last.since} more times since it was last reported)` : message);
  };
}
