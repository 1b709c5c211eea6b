import { spawn } from "node:child_process";
import { MissingToolError } from "../errors/errors.js";

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs an external tool to completion; ENOENT becomes a MissingToolError naming the Debian package. */
export function runTool(
  command: string,
  args: string[],
  missing: { debianPackage: string; purpose: string },
  signal?: AbortSignal,
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...(signal ? { signal } : {}) });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") reject(new MissingToolError(command, missing.debianPackage, missing.purpose));
      else reject(err);
    });
    child.on("close", (code) => {
      resolve({ code, stdout, stderr: stderr.trim() });
    });
  });
}
