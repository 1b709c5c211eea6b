// Runs a short stickvm command (passwd, rejuvenate, …) as a real process.
import { STICKVM } from "./serve.js";
import { runScript } from "./sticks.js";

/** See runScript: STICKVM_PASSPHRASE is set unless `env` removes it. */
export function stickvm(args: string[], env: Record<string, string | undefined> = {}): ReturnType<typeof runScript> {
  return runScript(STICKVM, args, env);
}
