import { hostname } from "node:os";
import { readHeaderCopies } from "../chunkstore/stick-files.js";
import { hostId, readMachineId } from "../host/host-id.js";

/**
 * This host's id as the stick sees it (src/host/host-id.ts), which names its residue journal.
 * Without a machine id (a minimal container) the host name stands in: a journal must have a name.
 */
export async function stickHostId(stickDir: string): Promise<string> {
  const [copy] = await readHeaderCopies(stickDir);
  if (copy === undefined) throw new Error("readHeaderCopies returned no copy");
  const machine = (await readMachineId(process.platform)) ?? `host name ${hostname()}`;
  return hostId(copy.header.stickId, machine);
}
