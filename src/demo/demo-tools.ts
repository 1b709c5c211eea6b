import { spawnSync } from "node:child_process";
import { MissingToolError } from "../errors/errors.js";
import { hasBusyboxStatic } from "./busybox.js";

/** What the demo runs on this machine, with the Debian package each comes from. */
const DEMO_TOOLS = [
  { tool: "qemu-system-x86_64", pkg: "qemu-system-x86", purpose: "run the demo guest" },
  { tool: "mke2fs", pkg: "e2fsprogs", purpose: "make the demo's system disk" },
  { tool: "xz", pkg: "xz-utils", purpose: "unpack Debian's kernel" },
  { tool: "apt-get", pkg: "apt", purpose: "download Debian's kernel" },
  { tool: "dpkg-deb", pkg: "dpkg", purpose: "unpack Debian's kernel" },
] as const;

function onPath(tool: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status === 0;
}

/**
 * Stops with the one command that sets this machine up (it installs every Debian package the
 * demo and the tests use) when a tool the demo needs is missing.
 */
export function checkDemoTools(): void {
  const missing = DEMO_TOOLS.find((t) => !onPath(t.tool));
  const fix = "run: bash scripts/setup-debian.sh";
  if (missing !== undefined) throw new MissingToolError(missing.tool, `${missing.pkg}, or ${fix}`, missing.purpose);
  if (!hasBusyboxStatic()) throw new MissingToolError("busybox (static)", `busybox-static, or ${fix}`, "give the demo guest its userland");
}
