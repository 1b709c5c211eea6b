// One transmission request against the export's device: checks, then the device call.
import { ReadOnlyError } from "../errors/errors.js";
import type { BlockDevice, Extent } from "../layers/block-device.js";
import { BadRequestError, BeyondEndError } from "./errors.js";
import { MAX_BLOCK_SIZE, MAX_EXTENTS_PER_REPLY } from "./limits.js";
import {
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_FLAG_DF,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLAG_REQ_ONE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
} from "./protocol.js";
import type { ReadBuffers } from "./read-buffers.js";
import type { Handle } from "./replies.js";
import type { Session } from "./session.js";

export interface Request {
  flags: number;
  type: number;
  handle: Handle;
  /** Above 2^53 this is inexact, but then it is past any export's end all the same. */
  offset: number;
  length: number;
}

/**
 * What a successful command returns: nothing, data for READ, extents for BLOCK_STATUS. Data
 * in a reply buffer comes with `release`, to call once the reply has been sent.
 */
export type Outcome = null | { data: Buffer; release?: () => void } | { extents: Extent[] };

/** FUA is accepted on every command (the spec says so, and clients send it on reads). */
const ALLOWED_FLAGS = new Map<number, number>([
  [NBD_CMD_READ, NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_DF],
  [NBD_CMD_WRITE, NBD_CMD_FLAG_FUA],
  [NBD_CMD_FLUSH, NBD_CMD_FLAG_FUA],
  [NBD_CMD_TRIM, NBD_CMD_FLAG_FUA],
  [NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE],
  [NBD_CMD_BLOCK_STATUS, NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_REQ_ONE],
]);

/** Commands a read-only export refuses. */
function isWriteCommand(type: number): boolean {
  return type === NBD_CMD_WRITE || type === NBD_CMD_WRITE_ZEROES || type === NBD_CMD_TRIM;
}

/** Commands that store data: past the end they get ENOSPC, where a TRIM gets EINVAL. */
export function storesData(type: number): boolean {
  return type === NBD_CMD_WRITE || type === NBD_CMD_WRITE_ZEROES;
}

/** Throws the typed error the reply will carry; errors.ts turns it into an NBD error value. */
function check(session: Session, r: Request): void {
  const allowed = ALLOWED_FLAGS.get(r.type);
  if (allowed === undefined) throw new BadRequestError(`unknown command ${r.type}`);
  const flagsOk = (r.flags & ~allowed) === 0 && (session.structured || (r.flags & NBD_CMD_FLAG_DF) === 0);
  if (!flagsOk) throw new BadRequestError(`flags 0x${r.flags.toString(16)} are not valid for command ${r.type}`);
  if ((r.type === NBD_CMD_READ || r.type === NBD_CMD_WRITE) && r.length > MAX_BLOCK_SIZE) {
    throw new BadRequestError(`${r.length} bytes is over the maximum block size of ${MAX_BLOCK_SIZE}`);
  }
  if (r.type === NBD_CMD_BLOCK_STATUS) {
    if (!session.blockStatus) throw new BadRequestError("base:allocation was not selected for this export");
    if (r.length === 0) throw new BadRequestError("BLOCK_STATUS of zero bytes");
  }
  if (isWriteCommand(r.type) && session.device.readOnly) throw new ReadOnlyError(`export ${JSON.stringify(session.name)}`);
  if (r.type !== NBD_CMD_FLUSH && r.offset + r.length > session.device.size) {
    throw new BeyondEndError(`${r.length} bytes at ${r.offset} reach past the end of the ${session.device.size}-byte export`);
  }
}

/** Runs `fn` over [offset, offset+length) in pieces no device call exceeds MAX_BLOCK_SIZE for. */
async function inPieces(offset: number, length: number, fn: (offset: number, length: number) => Promise<void>): Promise<void> {
  for (let done = 0; done < length; done += MAX_BLOCK_SIZE) {
    await fn(offset + done, Math.min(MAX_BLOCK_SIZE, length - done));
  }
}

/** Extents clipped to the request (one only with REQ_ONE), empty ones dropped, at most a reply's worth. */
function clipExtents(extents: readonly Extent[], length: number, reqOne: boolean): Extent[] {
  const out: Extent[] = [];
  let covered = 0;
  for (const e of extents) {
    if (covered >= length || out.length >= MAX_EXTENTS_PER_REPLY) break;
    const n = Math.min(e.length, length - covered);
    if (n <= 0) continue;
    out.push({ length: n, hole: e.hole, zero: e.zero });
    covered += n;
    if (reqOne) break;
  }
  // No usable extent from the device: status 0 ("data, contents unknown") is always true.
  return out.length > 0 ? out : [{ length, hole: false, zero: false }];
}

/** A READ into a reply buffer when the device can fill one, else the device's own buffer. */
async function readData(device: BlockDevice, r: Request, buffers: ReadBuffers): Promise<Outcome> {
  if (r.length === 0) return { data: Buffer.alloc(0) };
  if (device.readInto === undefined) {
    const data = await device.read(r.offset, r.length);
    if (data.length !== r.length) throw new Error(`device returned ${data.length} bytes for a ${r.length}-byte read`);
    return { data };
  }
  const data = buffers.take(r.length);
  try {
    await device.readInto(r.offset, data);
  } catch (err) {
    buffers.give(data);
    throw err;
  }
  return {
    data,
    release: () => {
      buffers.give(data);
    },
  };
}

export async function runCommand(session: Session, r: Request, payload: Buffer | null, buffers: ReadBuffers): Promise<Outcome> {
  check(session, r);
  const device = session.device;
  const fua = (r.flags & NBD_CMD_FLAG_FUA) !== 0;
  switch (r.type) {
    case NBD_CMD_READ:
      return readData(session.device, r, buffers);
    case NBD_CMD_WRITE:
      if (payload === null) throw new Error("WRITE without its payload");
      if (r.length > 0) await device.write(r.offset, payload, { fua });
      return null;
    case NBD_CMD_FLUSH:
      await device.flush();
      return null;
    case NBD_CMD_TRIM:
      await inPieces(r.offset, r.length, (o, n) => device.trim(o, n));
      if (fua) await device.flush();
      return null;
    case NBD_CMD_WRITE_ZEROES:
      await inPieces(r.offset, r.length, (o, n) => device.writeZeroes(o, n, { fua }));
      return null;
    default: {
      const extents = device.blockStatus ? await device.blockStatus(r.offset, r.length) : [];
      return { extents: clipExtents(extents, r.length, (r.flags & NBD_CMD_FLAG_REQ_ONE) !== 0) };
    }
  }
}
