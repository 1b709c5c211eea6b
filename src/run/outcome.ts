import { EXIT } from "../cli/exit-codes.js";
import type { PlayerOutcome } from "./player-session.js";

/** What a person is told when a session ended as intended. */
export function outcomeMessage(outcome: PlayerOutcome): string {
  if (outcome.stoppedBy === "guest") return "the guest powered off";
  if (outcome.stoppedBy === "stick-removed") return "the stick was removed: the guest was stopped at once and this session's files on the host were wiped; what the guest had not flushed to the user disk is lost";
  return outcome.guestPoweredOff ? "stopped: the guest powered off" : "stopped: the guest did not power off in time, so what it had not flushed is lost";
}

/** 0 when the guest powered off by itself; a stop request is an interruption; a pulled stick has its own code (README, "Exit codes"). */
export function outcomeExitCode(outcome: PlayerOutcome): number {
  if (outcome.stoppedBy === "stick-removed") return EXIT.stickRemoved;
  return outcome.stoppedBy === "guest" ? EXIT.ok : EXIT.interrupted;
}
