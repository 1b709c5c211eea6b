import { createInterface } from "node:readline/promises";
import { UsageError } from "../errors/errors.js";
import type { UpdateChoice, UpdatePrompt } from "../update/apply.js";

/**
 * How a launcher decides on a staged update that discards persistent system changes:
 * `--apply-update` or `--postpone-update` for automation, else a question on a terminal, else
 * undefined (the update is postponed until the policy's limit).
 */
export function updateDecision(o: { applyUpdate?: boolean; postponeUpdate?: boolean }): ((prompt: UpdatePrompt) => Promise<UpdateChoice>) | undefined {
  if (o.applyUpdate === true && o.postponeUpdate === true) throw new UsageError("give at most one of --apply-update and --postpone-update");
  if (o.applyUpdate === true) return () => Promise.resolve("apply");
  if (o.postponeUpdate === true) return () => Promise.resolve("postpone");
  if (!process.stdin.isTTY) return undefined;
  return async (p) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    try {
      const answer = await rl.question(`stickvm: apply base update ${p.fromVersion} → ${p.toVersion} now? Changes to the system disk are discarded; the user disk is kept. [Y/n, n postpones it (${p.limit - p.postponed} left)] `);
      return /^\s*n(o)?\s*$/i.test(answer) ? "postpone" : "apply";
    } finally {
      rl.close();
    }
  };
}
