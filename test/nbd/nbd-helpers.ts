// Shared by the NBD tests: a server over real layers, and a small raw protocol client.
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { createScratchDevice } from "../../src/layers/overlay-device.js";
import { ZeroDevice } from "../../src/layers/zero-device.js";
import { ByteReader } from "../../src/nbd/byte-reader.js";
import * as P from "../../src/nbd/protocol.js";
import { startNbdServer, type NbdLog, type NbdServer } from "../../src/nbd/server.js";
import { runTool, type ToolResult } from "../../src/util/run-tool.js";
import { tempDir } from "../helpers/sticks.js";

export const SCRATCH_SIZE = 64 * 1024 * 1024;
export const ZERO_SIZE = 16 * 1024 * 1024;
export const SCRATCH_DESCRIPTION = "encrypted scratch disk";
export const ZERO_DESCRIPTION = "all zeros, read-only";

type TestContext = { after: (fn: () => void | Promise<void>) => void };

export interface TestServer {
  server: NbdServer;
  dir: string;
  socket: string;
  uri(name: string): string;
}

/** A server with `scratch` (writable, encrypted) and `zeros` (read-only) on a Unix socket, torn down after the test. */
export async function startTestServer(t: TestContext, o: { scratchSize?: number; log?: NbdLog } = {}): Promise<TestServer> {
  const dir = await tempDir(t, "stickvm-nbd-");
  const scratch = await createScratchDevice({ dir, size: o.scratchSize ?? SCRATCH_SIZE });
  const socket = join(dir, "nbd.sock");
  const server = await startNbdServer({
    exports: new Map([
      ["scratch", { device: scratch, description: SCRATCH_DESCRIPTION }],
      ["zeros", { device: new ZeroDevice(ZERO_SIZE), description: ZERO_DESCRIPTION }],
    ]),
    listen: { socket },
    ...(o.log ? { log: o.log } : {}),
  });
  t.after(async () => {
    await server.close();
    await scratch.close();
  });
  return { server, dir, socket, uri: (name) => server.uri(name) };
}

/** Runs a client tool with a deadline, so a hung server fails the test instead of stalling it. */
export function tool(command: string, args: string[], timeoutMs = 60_000): Promise<ToolResult> {
  return runTool(command, args, { debianPackage: command, purpose: "test the NBD server" }, AbortSignal.timeout(timeoutMs));
}

export interface Reply {
  /** Error value (0: success). */
  error: number;
  /** READ data reassembled, or block status descriptors as [length, flags] pairs. */
  data?: Buffer;
  extents?: Array<[number, number]>;
  /** Structured error message, if any. */
  message?: string;
  structured: boolean;
}

export interface OptionReply {
  type: number;
  data: Buffer;
}

/** Just enough of an NBD client to send what real clients never would. */
export class RawClient {
  readonly reader: ByteReader;
  private constructor(readonly socket: Socket) {
    this.reader = new ByteReader(socket);
    socket.on("error", () => undefined);
  }

  static connect(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect(path, () => {
        s.off("error", reject);
        resolve(new RawClient(s));
      });
      s.once("error", reject);
    });
  }

  send(...parts: Buffer[]): void {
    for (const p of parts) this.socket.write(p);
  }

  /** Reads the greeting and sends client flags; returns the handshake flags. */
  async greet(clientFlags = P.NBD_FLAG_C_FIXED_NEWSTYLE | P.NBD_FLAG_C_NO_ZEROES): Promise<number> {
    const g = await this.reader.read(18);
    if (g.readBigUInt64BE(0) !== P.NBDMAGIC || g.readBigUInt64BE(8) !== P.IHAVEOPT) throw new Error("bad greeting");
    this.send(u32(clientFlags));
    return g.readUInt16BE(16);
  }

  sendOption(option: number, data: Buffer = Buffer.alloc(0), length = data.length): void {
    const h = Buffer.alloc(16);
    h.writeBigUInt64BE(P.IHAVEOPT, 0);
    h.writeUInt32BE(option, 8);
    h.writeUInt32BE(length, 12);
    this.send(h, data);
  }

  async optionReply(): Promise<OptionReply> {
    const h = await this.reader.read(20);
    if (h.readBigUInt64BE(0) !== P.NBD_OPT_REPLY_MAGIC) throw new Error("bad option reply magic");
    const data = Buffer.from(await this.reader.read(h.readUInt32BE(16)));
    return { type: h.readUInt32BE(12), data };
  }

  /** Sends an option and collects replies up to the final one (ACK or an error). */
  async option(option: number, data?: Buffer): Promise<OptionReply[]> {
    this.sendOption(option, data);
    const replies: OptionReply[] = [];
    for (;;) {
      const r = await this.optionReply();
      replies.push(r);
      if (r.type === P.NBD_REP_ACK || r.type >= 2 ** 31) return replies;
    }
  }

  /** Handshake to transmission on `name`, optionally with structured replies and base:allocation. */
  async go(name: string, o: { structured?: boolean; meta?: boolean } = {}): Promise<{ size: number; flags: number }> {
    await this.greet();
    if (o.structured ?? true) await this.option(P.NBD_OPT_STRUCTURED_REPLY);
    if (o.meta ?? true) await this.option(P.NBD_OPT_SET_META_CONTEXT, metaRequest(name, [P.BASE_ALLOCATION]));
    const replies = await this.option(P.NBD_OPT_GO, infoRequest(name, [P.NBD_INFO_BLOCK_SIZE]));
    const last = replies.at(-1);
    if (last?.type !== P.NBD_REP_ACK) throw new Error(`GO failed: 0x${last?.type.toString(16) ?? "?"}`);
    const info = replies.find((r) => r.data.length === 12 && r.data.readUInt16BE(0) === P.NBD_INFO_EXPORT);
    if (info === undefined) throw new Error("no NBD_INFO_EXPORT");
    return { size: Number(info.data.readBigUInt64BE(2)), flags: info.data.readUInt16BE(10) };
  }

  sendRequest(type: number, o: { flags?: number; handle?: bigint; offset?: number; length?: number; payload?: Buffer } = {}): void {
    const h = Buffer.alloc(28);
    h.writeUInt32BE(P.NBD_REQUEST_MAGIC, 0);
    h.writeUInt16BE(o.flags ?? 0, 4);
    h.writeUInt16BE(type, 6);
    h.writeBigUInt64BE(o.handle ?? 1n, 8);
    h.writeBigUInt64BE(BigInt(o.offset ?? 0), 16);
    h.writeUInt32BE(o.length ?? o.payload?.length ?? 0, 24);
    this.send(h, o.payload ?? Buffer.alloc(0));
  }

  /** Reads one whole reply (a simple reply, or structured chunks up to DONE); `readLength` for simple READ replies. */
  async reply(readLength = 0): Promise<{ handle: bigint } & Reply> {
    const magic = (await this.reader.read(4)).readUInt32BE(0);
    if (magic === P.NBD_SIMPLE_REPLY_MAGIC) {
      const h = await this.reader.read(12);
      const error = h.readUInt32BE(0);
      const handle = h.readBigUInt64BE(4);
      if (error !== 0 || readLength === 0) return { handle, error, structured: false };
      return { handle, error, structured: false, data: Buffer.from(await this.reader.read(readLength)) };
    }
    if (magic !== P.NBD_STRUCTURED_REPLY_MAGIC) throw new Error(`bad reply magic 0x${magic.toString(16)}`);
    const result: { handle: bigint } & Reply = { handle: 0n, error: 0, structured: true };
    const parts: Buffer[] = [];
    for (let first = true; ; first = false) {
      if (!first && (await this.reader.read(4)).readUInt32BE(0) !== P.NBD_STRUCTURED_REPLY_MAGIC) throw new Error("bad chunk magic");
      const h = await this.reader.read(16);
      const flags = h.readUInt16BE(0);
      const type = h.readUInt16BE(2);
      result.handle = h.readBigUInt64BE(4);
      const payload = Buffer.from(await this.reader.read(h.readUInt32BE(12)));
      if (type === P.NBD_REPLY_TYPE_OFFSET_DATA) parts.push(payload.subarray(8));
      else if (type === P.NBD_REPLY_TYPE_ERROR) {
        result.error = payload.readUInt32BE(0);
        result.message = payload.toString("utf8", 6, 6 + payload.readUInt16BE(4));
      } else if (type === P.NBD_REPLY_TYPE_BLOCK_STATUS) {
        result.extents = [];
        for (let at = 4; at < payload.length; at += 8) result.extents.push([payload.readUInt32BE(at), payload.readUInt32BE(at + 4)]);
      }
      if ((flags & P.NBD_REPLY_FLAG_DONE) !== 0) break;
    }
    if (parts.length > 0) result.data = Buffer.concat(parts);
    return result;
  }

  /** Resolves when the server has closed the connection. */
  closed(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || this.socket.readableEnded) resolve();
      else {
        this.socket.once("close", () => {
          resolve();
        });
        this.socket.resume();
      }
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

export function infoRequest(name: string, infos: number[]): Buffer {
  const nameBytes = Buffer.from(name);
  const tail = Buffer.alloc(2 + 2 * infos.length);
  tail.writeUInt16BE(infos.length, 0);
  infos.forEach((info, i) => tail.writeUInt16BE(info, 2 + 2 * i));
  return Buffer.concat([u32(nameBytes.length), nameBytes, tail]);
}

export function metaRequest(name: string, queries: string[]): Buffer {
  const nameBytes = Buffer.from(name);
  return Buffer.concat([u32(nameBytes.length), nameBytes, u32(queries.length), ...queries.flatMap((q) => [u32(Buffer.byteLength(q)), Buffer.from(q)])]);
}
