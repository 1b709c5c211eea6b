import { CommanderError } from "commander";
import { StickvmError } from "../errors/errors.js";
import { EXIT, exitCodeFor } from "./exit-codes.js";

/**
 * The one place that ends the process. A command returns its exit code (0 for
 * success, or a documented non-zero code such as verify's "damaged"); a thrown
 * error is printed as one clear line and mapped to its code.
 */
export async function runCli(main: () => Promise<number>): Promise<never> {
  let code: number;
  try {
    code = await main();
  } catch (err) {
    code = reportError(err);
  }
  process.exit(code);
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander has already printed its message
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (err instanceof StickvmError) {
    process.stderr.write(`error: ${err.message}\n`);
    return exitCodeFor(err.code);
  }
  process.stderr.write(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return EXIT.failure;
}
