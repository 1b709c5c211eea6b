// Parsers for the option payloads the server understands. Each returns null when the payload
// is malformed (lengths that overrun it, trailing bytes, over-long strings): NBD_REP_ERR_INVALID.
import { NBD_MAX_STRING } from "./protocol.js";

export interface InfoRequest {
  name: string;
  /** NBD_INFO_* types the client asked for. */
  infos: number[];
}

export interface MetaContextRequest {
  name: string;
  queries: string[];
}

/** A cursor over one payload; every read checks it stays inside. */
class Cursor {
  private at = 0;
  constructor(private readonly data: Buffer) {}

  get done(): boolean {
    return this.at === this.data.length;
  }

  u16(): number | null {
    if (this.at + 2 > this.data.length) return null;
    const v = this.data.readUInt16BE(this.at);
    this.at += 2;
    return v;
  }

  u32(): number | null {
    if (this.at + 4 > this.data.length) return null;
    const v = this.data.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }

  string(length: number): string | null {
    if (length > NBD_MAX_STRING || this.at + length > this.data.length) return null;
    const s = this.data.toString("utf8", this.at, this.at + length);
    this.at += length;
    return s;
  }
}

/** NBD_OPT_INFO / NBD_OPT_GO: u32 name length, name, u16 count, count × u16 info types. */
export function parseInfoRequest(data: Buffer): InfoRequest | null {
  const c = new Cursor(data);
  const nameLength = c.u32();
  const name = nameLength === null ? null : c.string(nameLength);
  const count = c.u16();
  if (name === null || count === null) return null;
  const infos: number[] = [];
  for (let i = 0; i < count; i++) {
    const info = c.u16();
    if (info === null) return null;
    infos.push(info);
  }
  return c.done ? { name, infos } : null;
}

/** NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT: u32 name length, name, u32 count, count × (u32 length, query). */
export function parseMetaContextRequest(data: Buffer): MetaContextRequest | null {
  const c = new Cursor(data);
  const nameLength = c.u32();
  const name = nameLength === null ? null : c.string(nameLength);
  const count = c.u32();
  if (name === null || count === null) return null;
  const queries: string[] = [];
  for (let i = 0; i < count; i++) {
    const length = c.u32();
    const query = length === null ? null : c.string(length);
    if (query === null) return null;
    queries.push(query);
  }
  return c.done ? { name, queries } : null;
}
