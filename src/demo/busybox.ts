import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { runSync } from "./run-sync.js";

/** Debian's busybox-static puts its static binary here; a static one runs in any guest. */
export const BUSYBOX = "/bin/busybox";

/** Whether Debian's busybox-static package is installed (the guests need it). */
export function hasBusyboxStatic(): boolean {
  return spawnSync("dpkg-query", ["-W", "busybox-static"], { stdio: "ignore" }).status === 0;
}

/** The static busybox's bytes; throws saying which package to install. */
export async function staticBusybox(): Promise<Buffer> {
  if (!hasBusyboxStatic()) throw new Error("the guest needs Debian's busybox-static package (apt-get install busybox-static)");
  return readFile(BUSYBOX);
}

/** Where busybox installs each applet, e.g. "usr/bin/awk" (relative to the root). */
export function busyboxAppletPaths(): string[] {
  return runSync(BUSYBOX, ["--list-full"]).toString("utf8").split("\n").filter((p) => p !== "");
}
