import { EXIT } from "../cli/exit-codes.js";
import type { PlayerOutcome } from "./player-session.js";

/** What a person is told when a session ended as intended. */
export function outcomeMessage(outcome: PlayerOutcome): string {
  if (outcome.stoppedBy === "guest") return "the guest powered off";
  return outcome.guestPoweredOff ? "stopped: the guest powered off" : "stopped: the guest did not power off in time, so what it had not flushed is lost";
}

/** 0 when the guest powered off by itself; a stop request is an interruption (README, "Exit codes"). */
export function outcomeExitCode(outcome: PlayerOutcome): number {
  return outcome.stoppedBy === "guest" ? EXIT.ok : EXIT.interrupted;
}
