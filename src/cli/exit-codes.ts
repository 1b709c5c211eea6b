import type { ErrorCode } from "../errors/errors.js";

/** Process exit codes, documented in README.md ("Exit codes"). */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  badInput: 3,
  wrongPassphrase: 4,
  damagedStick: 5,
  noSpace: 6,
  missingTool: 7,
  newerFormat: 8,
  playerFailed: 9,
  stickRemoved: 10,
  interrupted: 130,
} as const;

export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case "USAGE":
    case "OUTPUT_NOT_EMPTY":
      return EXIT.usage;
    case "BAD_IMAGE":
    case "BAD_KEY_FILE":
      return EXIT.badInput;
    case "WRONG_PASSPHRASE":
      return EXIT.wrongPassphrase;
    case "INCOMPLETE_STICK":
    case "CORRUPT_STICK":
    case "CHUNK_MISSING":
    case "CHUNK_INVALID":
      return EXIT.damagedStick;
    case "NEWER_FORMAT":
      return EXIT.newerFormat;
    case "NO_SPACE":
      return EXIT.noSpace;
    case "MISSING_TOOL":
    case "NO_PLAYER":
      return EXIT.missingTool;
    case "PLAYER_FAILED":
      return EXIT.playerFailed;
    case "INTERRUPTED":
      return EXIT.interrupted;
    case "IO":
    case "READ_ONLY":
    case "OUT_OF_RANGE":
    case "HOST_TOO_SMALL":
      return EXIT.failure;
  }
}
