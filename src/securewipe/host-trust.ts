import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { RESIDUE_DIR } from "../../stick-layout/residue-journal.js";

export type HostTrust = "trusted" | "kiosk";

/** Where the stick keeps the answer for one host (FORMAT.md §26.3). */
export function hostTrustPath(stickDir: string, hostId: string): string {
  return join(stickDir, RESIDUE_DIR, `${hostId}.trust`);
}

/**
 * Policy `host: "ask"`: the answer this stick was given on this host, else the person's answer
 * to `ask` (kept on the stick, so they are asked once per host), else a kiosk (no one to ask:
 * asked again next time). A stick that cannot keep the answer still uses it for this session.
 */
export async function resolveHostTrust(stickDir: string, hostId: string, ask: (() => Promise<boolean>) | undefined, warn: (message: string) => void): Promise<HostTrust> {
  const path = hostTrustPath(stickDir, hostId);
  const kept = await readFile(path, "utf8").then((t) => t.trim(), () => undefined);
  if (kept === "trusted" || kept === "kiosk") return kept;
  if (ask === undefined) return "kiosk";
  const answer: HostTrust = (await ask()) ? "trusted" : "kiosk";
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, `${answer}\n`, { mode: 0o600 });
  } catch (err) {
    warn(`the answer could not be kept on the stick (${(err as Error).message}): the next start asks again`);
  }
  return answer;
}
