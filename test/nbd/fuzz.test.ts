// A structure-aware fuzzer: handshakes, options and requests that are mostly well formed and
// then bent (wrong lengths, boundary offsets, unknown codes, flipped bytes, cut streams).
// The server must never crash, never log an unexpected error, and keep serving a good client.
// Reproduce or run longer with NBD_FUZZ_SEED=<seed from the failure> and NBD_FUZZ_CASES=<n>.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { test } from "node:test";
import { MAX_BLOCK_SIZE } from "../../src/nbd/limits.js";
import * as P from "../../src/nbd/protocol.js";
import { infoRequest, metaRequest, RawClient, SCRATCH_SIZE, startTestServer, u32, ZERO_SIZE } from "./nbd-helpers.js";

const CASES = Number(process.env.NBD_FUZZ_CASES ?? 2000);
const PARALLEL = 40;
/** A case ends when the server closes the connection or after this long. */
const CASE_MS = 150;

/** xorshift32: reproducible from the seed printed on failure. */
class Rng {
  constructor(private state: number) {}
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }
  below(n: number): number {
    return this.next() % n;
  }
  chance(p: number): boolean {
    return this.next() / 2 ** 32 < p;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[this.below(items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.below(256);
    return b;
  }
}

const NAMES = ["scratch", "zeros", "", "nope", "scratch\0", "x".repeat(5000)];

function option(r: Rng): Buffer {
  const name = r.pick(NAMES);
  const code = r.pick([
    P.NBD_OPT_EXPORT_NAME,
    P.NBD_OPT_ABORT,
    P.NBD_OPT_LIST,
    P.NBD_OPT_STARTTLS,
    P.NBD_OPT_INFO,
    P.NBD_OPT_GO,
    P.NBD_OPT_STRUCTURED_REPLY,
    P.NBD_OPT_LIST_META_CONTEXT,
    P.NBD_OPT_SET_META_CONTEXT,
    P.NBD_OPT_EXTENDED_HEADERS,
    0,
    r.next(),
  ]);
  let data: Buffer;
  if (code === P.NBD_OPT_INFO || code === P.NBD_OPT_GO) data = infoRequest(name, Array.from({ length: r.below(5) }, () => r.below(6)));
  else if (code === P.NBD_OPT_LIST_META_CONTEXT || code === P.NBD_OPT_SET_META_CONTEXT) {
    data = metaRequest(name, Array.from({ length: r.below(4) }, () => r.pick([P.BASE_ALLOCATION, "base:", "qemu:x", "", "nocolon"])));
  } else if (code === P.NBD_OPT_EXPORT_NAME) data = Buffer.from(name);
  else data = r.chance(0.7) ? Buffer.alloc(0) : r.bytes(r.below(64));
  if (r.chance(0.15)) data = data.subarray(0, r.below(data.length + 1));
  const declared = r.chance(0.1) ? r.pick([data.length + 1, data.length + 1000, 0xffffffff, 65537, r.next()]) : data.length;
  const h = Buffer.alloc(16);
  h.writeBigUInt64BE(r.chance(0.03) ? 0x1234n : P.IHAVEOPT, 0);
  h.writeUInt32BE(code >>> 0, 8);
  h.writeUInt32BE(declared >>> 0, 12);
  return Buffer.concat([h, data]);
}

function request(r: Rng, size: number): Buffer {
  const type = r.chance(0.9) ? r.below(9) : r.below(0x10000);
  const flags = r.chance(0.7) ? r.pick([0, P.NBD_CMD_FLAG_FUA, P.NBD_CMD_FLAG_NO_HOLE, P.NBD_CMD_FLAG_DF, P.NBD_CMD_FLAG_REQ_ONE]) : r.below(0x10000);
  const offset = r.pick([0n, BigInt(size - 1), BigInt(size), BigInt(size + 1), 2n ** 63n, 2n ** 64n - 1n, BigInt(r.below(size))]);
  const length = r.pick([0, 1, 511, 4096, 65536, MAX_BLOCK_SIZE, MAX_BLOCK_SIZE + 1, 0xffffffff, r.below(70_000)]);
  const h = Buffer.alloc(28);
  h.writeUInt32BE(r.chance(0.03) ? r.next() : P.NBD_REQUEST_MAGIC, 0);
  h.writeUInt16BE(flags, 4);
  h.writeUInt16BE(type, 6);
  h.writeUInt32BE(r.next(), 8);
  h.writeUInt32BE(r.next(), 12);
  h.writeBigUInt64BE(offset, 16);
  h.writeUInt32BE(length, 24);
  if (type !== P.NBD_CMD_WRITE) return h;
  // A payload of the declared length when it is small, else a short one: the stream then ends mid-payload.
  return Buffer.concat([h, r.bytes(length <= 70_000 && r.chance(0.9) ? length : r.below(4096))]);
}

/** One case: client flags, some options, maybe a way into transmission and some requests, maybe bent. */
function caseBytes(r: Rng): Buffer {
  const parts: Buffer[] = [u32(r.chance(0.9) ? r.pick([1, 3]) : r.next())];
  for (let i = r.below(5); i > 0; i--) parts.push(option(r));
  if (r.chance(0.7)) {
    const name = r.pick(["scratch", "zeros"]);
    if (r.chance(0.5)) {
      parts.push(optHeader(P.NBD_OPT_STRUCTURED_REPLY, 0));
      const meta = metaRequest(name, [P.BASE_ALLOCATION]);
      parts.push(optHeader(P.NBD_OPT_SET_META_CONTEXT, meta.length), meta);
    }
    const go = infoRequest(name, [P.NBD_INFO_BLOCK_SIZE]);
    if (r.chance(0.8)) parts.push(optHeader(P.NBD_OPT_GO, go.length), go);
    else parts.push(optHeader(P.NBD_OPT_EXPORT_NAME, name.length), Buffer.from(name));
    const size = name === "scratch" ? SCRATCH_SIZE : ZERO_SIZE;
    for (let i = 1 + r.below(12); i > 0; i--) parts.push(request(r, size));
    if (r.chance(0.3)) parts.push(request(r, size).subarray(0, r.below(28)));
  }
  if (r.chance(0.1)) parts.push(r.bytes(r.below(200)));
  let bytes = Buffer.concat(parts);
  if (r.chance(0.2)) for (let i = 1 + r.below(4); i > 0; i--) bytes[r.below(bytes.length)] = r.below(256);
  if (r.chance(0.15)) bytes = bytes.subarray(0, r.below(bytes.length + 1));
  return bytes;
}

function optHeader(code: number, length: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeBigUInt64BE(P.IHAVEOPT, 0);
  h.writeUInt32BE(code, 8);
  h.writeUInt32BE(length, 12);
  return h;
}

/** Sends the bytes, drains whatever comes back, and ends at close or at the deadline. */
function runCase(socket: string, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(socket);
    const timer = setTimeout(() => s.destroy(), CASE_MS);
    s.on("error", () => undefined);
    s.on("close", () => {
      clearTimeout(timer);
      resolve();
    });
    s.on("data", () => undefined);
    s.write(bytes);
  });
}

async function goodClientWorks(socket: string): Promise<void> {
  const c = await RawClient.connect(socket);
  try {
    await c.go("scratch");
    const data = randomBytes(4096);
    c.sendRequest(P.NBD_CMD_WRITE, { handle: 1n, offset: 8192, payload: data });
    assert.equal((await c.reply()).error, 0);
    c.sendRequest(P.NBD_CMD_READ, { handle: 2n, offset: 8192, length: 4096 });
    assert.ok((await c.reply()).data?.equals(data));
  } finally {
    c.destroy();
  }
}

test(`fuzzer: ${CASES} bent handshakes and requests; no crash, no unexpected error, good clients still served`, { timeout: 120_000 }, async (t) => {
  const warnings: string[] = [];
  const s = await startTestServer(t, {
    log: (level, message) => {
      if (level === "warn") warnings.push(message);
    },
  });
  const seed = Number(process.env.NBD_FUZZ_SEED ?? randomBytes(4).readUInt32BE(0)) >>> 0 || 1;
  const rng = new Rng(seed);
  for (let done = 0; done < CASES; done += PARALLEL) {
    const batch = Array.from({ length: Math.min(PARALLEL, CASES - done) }, () => caseBytes(rng));
    await Promise.all(batch.map((bytes) => runCase(s.socket, bytes)));
    if ((done / PARALLEL) % 10 === 0) await goodClientWorks(s.socket);
    assert.deepEqual(warnings, [], `seed ${seed}`);
  }
  await goodClientWorks(s.socket);
});
