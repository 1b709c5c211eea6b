import type { WipeReport } from "./residue.js";

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** Lines for the log: a summary, then one line for each entry that was not simply wiped or gone. */
export function describeWipe(r: WipeReport, which: "stale" | "session"): string[] {
  const wiped = r.items.filter((i) => i.outcome === "wiped");
  const files = wiped.reduce((a, i) => a + i.files, 0);
  const bytes = wiped.reduce((a, i) => a + i.bytes, 0);
  const head =
    which === "stale"
      ? `finished the wipe of an earlier session that did not end cleanly: ${wiped.length} of ${r.items.length} folders, ${files} files, ${mib(bytes)} overwritten`
      : `wiped this session's files on the host: ${wiped.length} folders, ${files} files, ${mib(bytes)} overwritten`;
  const notes = r.items
    .filter((i) => i.outcome !== "wiped" && i.outcome !== "gone")
    .map((i) => `  ${i.outcome}: ${i.path} (${i.what})${i.reason === undefined ? "" : `: ${i.reason}`}`);
  return [head, ...notes, ...r.journalProblems.map((p) => `  residue journal: ${p}`)];
}
