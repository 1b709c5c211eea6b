// A client that knows exactly what the server acknowledged: it writes versioned 4 KiB blocks
// into a region of an export, flushes now and then (and sometimes writes with FUA), and keeps
// per block the newest version a FLUSH or FUA reply made durable. After the server is killed
// and restarted, every block must hold a version it really wrote, no older than the durable one.
import { createHash } from "node:crypto";
import * as P from "../../src/nbd/protocol.js";
import { RawClient } from "../nbd/nbd-helpers.js";

export const CHECK_BLOCK = 4096;
const MAGIC = Buffer.from("KILLCHK1");
/** Largest write, in blocks: some writes span several blocks, as a guest's do. */
const MAX_RUN = 16;

/** The content of `block` at `version`: a header naming both, then bytes derived from them. */
export function checkBlock(block: number, version: number): Buffer {
  const b = Buffer.alloc(CHECK_BLOCK);
  MAGIC.copy(b, 0);
  b.writeUInt32LE(block, 8);
  b.writeUInt32LE(version, 12);
  const seed = createHash("sha256").update(b.subarray(0, 16)).digest();
  for (let at = 16; at < CHECK_BLOCK; at += seed.length) seed.copy(b, at);
  return b;
}

export interface CheckedRegion {
  /** The export's name. */
  name: string;
  /** Byte offset of the region; a multiple of 4096. */
  offset: number;
  blocks: number;
}

/** What one region went through across rounds: the versions sent to each block, and those made durable. */
export class RegionModel {
  readonly durable: number[];
  readonly sent: Set<number>[];
  private version = 0;

  constructor(readonly region: CheckedRegion) {
    this.durable = new Array<number>(region.blocks).fill(0);
    this.sent = Array.from({ length: region.blocks }, () => new Set<number>());
  }

  nextVersion(): number {
    return ++this.version;
  }

  /**
   * Writes and flushes until the connection breaks (the server was killed) or, when
   * `errorsEnd`, until the server answers with an error (the stick went); otherwise an error
   * reply rejects. Resolves with the number of flushes acknowledged and the error seen.
   */
  async hammer(socketPath: string, random: () => number, errorsEnd = false): Promise<{ flushes: number; error?: number }> {
    const client = await RawClient.connect(socketPath);
    let flushes = 0;
    const failed = (what: string, error: number): { flushes: number; error: number } => {
      if (errorsEnd) return { flushes, error };
      throw new Error(`${this.region.name}: ${what} answered NBD error ${error}`);
    };
    try {
      await client.go(this.region.name, { meta: false });
      const acked = [...this.durable];
      let handle = 1n;
      for (let n = 1; ; n++) {
        const first = Math.floor(random() * this.region.blocks);
        const run = Math.min(1 + Math.floor(random() * MAX_RUN), this.region.blocks - first);
        const v = this.nextVersion();
        const blocks = Array.from({ length: run }, (_, i) => first + i);
        const fua = random() < 0.1;
        for (const b of blocks) this.sent[b]?.add(v);
        client.sendRequest(P.NBD_CMD_WRITE, {
          handle: handle++,
          flags: fua ? P.NBD_CMD_FLAG_FUA : 0,
          offset: this.region.offset + first * CHECK_BLOCK,
          payload: Buffer.concat(blocks.map((b) => checkBlock(b, v))),
        });
        const w = await client.reply();
        if (w.error !== 0) return failed("write", w.error);
        for (const b of blocks) {
          acked[b] = v;
          if (fua) this.durable[b] = v;
        }
        if (n % 4 !== 0) continue;
        const promised = [...acked];
        client.sendRequest(P.NBD_CMD_FLUSH, { handle: handle++ });
        const f = await client.reply();
        if (f.error !== 0) return failed("flush", f.error);
        promised.forEach((v2, b) => {
          if (v2 > (this.durable[b] ?? 0)) this.durable[b] = v2;
        });
        flushes += 1;
      }
    } catch (err) {
      if (err instanceof Error && /connection closed|ECONNRESET|EPIPE/.test(err.message)) return { flushes };
      throw err;
    } finally {
      client.destroy();
    }
  }

  /** Reads the region back; returns one line per block that breaks the promise (none: all good). */
  async check(socketPath: string): Promise<string[]> {
    const client = await RawClient.connect(socketPath);
    const problems: string[] = [];
    try {
      await client.go(this.region.name, { meta: false });
      const length = this.region.blocks * CHECK_BLOCK;
      client.sendRequest(P.NBD_CMD_READ, { offset: this.region.offset, length });
      const r = await client.reply(length);
      if (r.error !== 0 || r.data === undefined) return [`${this.region.name}: read answered NBD error ${r.error}`];
      for (let b = 0; b < this.region.blocks; b++) {
        const problem = this.blockProblem(b, r.data.subarray(b * CHECK_BLOCK, (b + 1) * CHECK_BLOCK));
        if (problem !== undefined) problems.push(`${this.region.name} block ${b}: ${problem}`);
      }
    } finally {
      client.destroy();
    }
    return problems;
  }

  private blockProblem(b: number, got: Buffer): string | undefined {
    const durable = this.durable[b] ?? 0;
    if (got.every((x) => x === 0)) return durable === 0 ? undefined : `zeros, but version ${durable} was flushed`;
    const v = got.readUInt32LE(12);
    if (!got.equals(checkBlock(b, v))) return "holds bytes no write put there";
    if (!(this.sent[b]?.has(v) ?? false)) return `version ${v} was never written to it`;
    if (v < durable) return `version ${v}, older than version ${durable} that a flush made durable`;
    return undefined;
  }
}
