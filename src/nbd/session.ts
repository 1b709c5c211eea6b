// What the handshake settles and the transmission phase uses.
import type { BlockDevice } from "../layers/block-device.js";
import {
  NBD_FLAG_CAN_MULTI_CONN,
  NBD_FLAG_HAS_FLAGS,
  NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_DF,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_FUA,
  NBD_FLAG_SEND_TRIM,
  NBD_FLAG_SEND_WRITE_ZEROES,
} from "./protocol.js";

export interface NbdExport {
  /** Shared by every connection to the export; the caller owns it and closes it. */
  device: BlockDevice;
  description?: string;
}

export type NbdExports = ReadonlyMap<string, NbdExport>;

/** Optional diagnostics; the server says nothing unless given one. */
export type NbdLog = (level: "debug" | "warn", message: string) => void;

export interface Session {
  name: string;
  device: BlockDevice;
  /** Structured replies were negotiated. */
  structured: boolean;
  /** base:allocation was selected for this export: BLOCK_STATUS is allowed. */
  blockStatus: boolean;
}

/**
 * CAN_MULTI_CONN is always set: every connection shares one device object, and the
 * BlockDevice contract makes flush() cover every write that resolved before it, whichever
 * connection sent it. DF is set with structured replies, since a READ is always one chunk.
 */
export function transmissionFlags(device: BlockDevice, structured: boolean): number {
  let flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_CAN_MULTI_CONN;
  if (device.readOnly) flags |= NBD_FLAG_READ_ONLY;
  else flags |= NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES;
  if (structured) flags |= NBD_FLAG_SEND_DF;
  return flags;
}
