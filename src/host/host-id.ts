import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { hmacSha256 } from "../crypto/hash.js";

const HOST_ID_LABEL = Buffer.from("stickvm host id v1\0", "latin1");
const HOST_ID_BYTES = 16;

/**
 * A host's id as one stick sees it: HMAC-SHA256 keyed with the stick's id (stick.hdr, readable
 * without the passphrase) over the OS's machine id, cut to 16 bytes. Stable for one host and
 * one stick; two sticks give unrelated ids for the same host, and the machine id itself is
 * not shown.
 */
export function hostId(stickId: Uint8Array, machineId: string): string {
  return hmacSha256(stickId, HOST_ID_LABEL, Buffer.from(machineId, "utf8")).subarray(0, HOST_ID_BYTES).toString("hex");
}

/** The OS's own stable id of this installation; undefined when it cannot be read. */
export async function readMachineId(platform: NodeJS.Platform): Promise<string | undefined> {
  switch (platform) {
    case "darwin":
      return fromCommand("ioreg", ["-rd1", "-c", "IOPlatformExpertDevice"], /"IOPlatformUUID" = "([^"]+)"/);
    case "win32":
      return fromCommand("reg", ["query", "HKLM\\SOFTWARE\\Microsoft\\Cryptography", "/v", "MachineGuid"], /MachineGuid\s+REG_SZ\s+(\S+)/);
    default:
      return (await firstLine("/etc/machine-id")) ?? (await firstLine("/var/lib/dbus/machine-id"));
  }
}

async function firstLine(path: string): Promise<string | undefined> {
  try {
    const line = (await readFile(path, "utf8")).trim();
    return line === "" ? undefined : line;
  } catch {
    return undefined;
  }
}

async function fromCommand(command: string, args: string[], pattern: RegExp): Promise<string | undefined> {
  try {
    return pattern.exec((await promisify(execFile)(command, args, { timeout: 5000 })).stdout)?.[1];
  } catch {
    return undefined;
  }
}
