// Transmission with a raw client: data, errors by the spec's table, limits, flags, disconnects.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { MAX_BLOCK_SIZE } from "../../src/nbd/limits.js";
import * as P from "../../src/nbd/protocol.js";
import { RawClient, SCRATCH_SIZE, startTestServer, ZERO_SIZE, type TestServer } from "./nbd-helpers.js";

type Ctx = Parameters<typeof startTestServer>[0];

async function client(t: Ctx, s: TestServer, name = "scratch", o?: { structured?: boolean; meta?: boolean }): Promise<RawClient> {
  const c = await RawClient.connect(s.socket);
  t.after(() => {
    c.destroy();
  });
  await c.go(name, o);
  return c;
}

test("writes read back, unaligned, with structured and with simple replies", async (t) => {
  const s = await startTestServer(t);
  for (const structured of [true, false]) {
    const c = await client(t, s, "scratch", { structured, meta: structured });
    const data = randomBytes(10_000);
    const offset = structured ? 4093 : 1_000_003;
    c.sendRequest(P.NBD_CMD_WRITE, { handle: 1n, offset, payload: data, flags: P.NBD_CMD_FLAG_FUA });
    assert.deepEqual(await c.reply(), { handle: 1n, error: 0, structured: false });
    c.sendRequest(P.NBD_CMD_FLUSH, { handle: 2n });
    assert.equal((await c.reply()).error, 0);
    c.sendRequest(P.NBD_CMD_READ, { handle: 3n, offset, length: data.length });
    const r = await c.reply(data.length);
    assert.equal(r.structured, structured);
    assert.ok(r.data?.equals(data));
    // A zero-length read is answered, not disconnected.
    c.sendRequest(P.NBD_CMD_READ, { handle: 4n, offset: 0, length: 0 });
    assert.equal((await c.reply()).error, 0);
  }
});

test("many requests in flight at once each get their own reply", async (t) => {
  const s = await startTestServer(t);
  const c = await client(t, s);
  const blocks = Array.from({ length: 64 }, () => randomBytes(4096 + 512));
  blocks.forEach((b, i) => {
    c.sendRequest(P.NBD_CMD_WRITE, { handle: BigInt(i), offset: i * 8192, payload: b });
  });
  const seen = new Set<bigint>();
  for (let i = 0; i < blocks.length; i++) {
    const r = await c.reply();
    assert.equal(r.error, 0);
    seen.add(r.handle);
  }
  assert.equal(seen.size, blocks.length);
  blocks.forEach((b, i) => {
    c.sendRequest(P.NBD_CMD_READ, { handle: BigInt(1000 + i), offset: i * 8192, length: b.length });
  });
  for (let i = 0; i < blocks.length; i++) {
    const r = await c.reply();
    assert.ok(r.data?.equals(blocks[Number(r.handle) - 1000] ?? Buffer.alloc(0)));
  }
});

test("past the end: EINVAL for READ, TRIM and BLOCK_STATUS, ENOSPC for WRITE and WRITE_ZEROES (size-1, size, size+1)", async (t) => {
  const s = await startTestServer(t, { scratchSize: 1024 * 1024 });
  const size = 1024 * 1024;
  const c = await client(t, s);
  const cases: Array<[string, number, number, number]> = [
    // [what, offset, length, expected error]
    ["last byte", size - 1, 1, 0],
    ["empty at the end", size, 0, 0],
    ["one past the end", size, 1, -1],
    ["straddling the end", size - 1, 2, -1],
    ["offset 2^63", 2 ** 63, 1, -1],
    ["offset 2^64-1", 2 ** 64 - 1, 1, -1],
  ];
  const commands: Array<[number, number]> = [
    [P.NBD_CMD_READ, P.NBD_EINVAL],
    [P.NBD_CMD_WRITE, P.NBD_ENOSPC],
    [P.NBD_CMD_TRIM, P.NBD_EINVAL],
    [P.NBD_CMD_WRITE_ZEROES, P.NBD_ENOSPC],
    [P.NBD_CMD_BLOCK_STATUS, P.NBD_EINVAL],
  ];
  for (const [type, beyond] of commands) {
    for (const [what, offset, length, expected] of cases) {
      if (type === P.NBD_CMD_BLOCK_STATUS && length === 0) continue;
      const h = Buffer.alloc(28);
      h.writeUInt32BE(P.NBD_REQUEST_MAGIC, 0);
      h.writeUInt16BE(type, 6);
      h.writeBigUInt64BE(BigInt(offset === 2 ** 64 - 1 ? "18446744073709551615" : offset), 16);
      h.writeUInt32BE(length, 24);
      c.send(h, type === P.NBD_CMD_WRITE ? Buffer.alloc(length, 1) : Buffer.alloc(0));
      const r = await c.reply(type === P.NBD_CMD_READ ? length : 0);
      assert.equal(r.error, expected === -1 ? beyond : 0, `command ${type}, ${what}`);
      if (expected === -1) assert.match(r.message ?? "", /past the end/);
    }
  }
});

test("lengths over the maximum block size get EINVAL; an oversized WRITE payload is skipped and the stream stays in step", async (t) => {
  const s = await startTestServer(t);
  const c = await client(t, s);
  c.sendRequest(P.NBD_CMD_READ, { handle: 1n, length: MAX_BLOCK_SIZE + 1 });
  assert.deepEqual([(await c.reply()).error], [P.NBD_EINVAL]);
  c.sendRequest(P.NBD_CMD_WRITE, { handle: 2n, payload: Buffer.alloc(MAX_BLOCK_SIZE + 4096, 0x5a) });
  const r = await c.reply();
  assert.deepEqual([r.handle, r.error], [2n, P.NBD_EINVAL]);
  c.sendRequest(P.NBD_CMD_READ, { handle: 3n, offset: 0, length: 4096 });
  const back = await c.reply(4096);
  assert.deepEqual([back.handle, back.error], [3n, 0]);
  assert.ok(back.data?.equals(Buffer.alloc(4096)), "the refused write changed nothing");
  // A TRIM or WRITE_ZEROES longer than a block is fine: the server splits it for the device.
  c.sendRequest(P.NBD_CMD_WRITE_ZEROES, { handle: 4n, offset: 0, length: SCRATCH_SIZE });
  assert.equal((await c.reply()).error, 0);
});

test("unknown commands and flags get EINVAL; BLOCK_STATUS needs base:allocation", async (t) => {
  const s = await startTestServer(t);
  const c = await client(t, s);
  const cases: Array<[string, number, number]> = [
    ["command 5 (CACHE, not offered)", 5, 0],
    ["command 8", 8, 0],
    ["command 0xffff", 0xffff, 0],
    ["NO_HOLE on READ", P.NBD_CMD_READ, P.NBD_CMD_FLAG_NO_HOLE],
    ["REQ_ONE on WRITE_ZEROES", P.NBD_CMD_WRITE_ZEROES, P.NBD_CMD_FLAG_REQ_ONE],
    ["FAST_ZERO (not offered)", P.NBD_CMD_WRITE_ZEROES, 1 << 4],
    ["unknown flag bit 15", P.NBD_CMD_FLUSH, 1 << 15],
  ];
  for (const [what, type, flags] of cases) {
    c.sendRequest(type, { handle: 9n, flags, length: 512 });
    const r = await c.reply();
    assert.deepEqual([r.handle, r.error, r.structured], [9n, P.NBD_EINVAL, true], what);
  }
  const plain = await client(t, s, "scratch", { structured: false, meta: false });
  plain.sendRequest(P.NBD_CMD_READ, { handle: 1n, flags: P.NBD_CMD_FLAG_DF, length: 512 });
  assert.equal((await plain.reply()).error, P.NBD_EINVAL, "DF is only offered with structured replies");
  const noMeta = await client(t, s, "scratch", { structured: true, meta: false });
  noMeta.sendRequest(P.NBD_CMD_BLOCK_STATUS, { handle: 1n, length: 4096 });
  assert.equal((await noMeta.reply()).error, P.NBD_EINVAL);
});

test("a read-only export refuses WRITE, TRIM and WRITE_ZEROES with EPERM and reads zeros", async (t) => {
  const s = await startTestServer(t);
  const c = await client(t, s, "zeros");
  c.sendRequest(P.NBD_CMD_WRITE, { handle: 1n, payload: Buffer.alloc(512, 1) });
  c.sendRequest(P.NBD_CMD_TRIM, { handle: 2n, length: 512 });
  c.sendRequest(P.NBD_CMD_WRITE_ZEROES, { handle: 3n, length: 512 });
  for (let i = 0; i < 3; i++) assert.equal((await c.reply()).error, P.NBD_EPERM);
  c.sendRequest(P.NBD_CMD_READ, { handle: 4n, offset: ZERO_SIZE - 4096, length: 4096 });
  assert.ok((await c.reply()).data?.equals(Buffer.alloc(4096)));
});

test("BLOCK_STATUS reports data and holes from the device, clipped to the request, one extent with REQ_ONE", async (t) => {
  const s = await startTestServer(t);
  const c = await client(t, s);
  c.sendRequest(P.NBD_CMD_WRITE, { handle: 1n, offset: 0, payload: randomBytes(8192) });
  await c.reply();
  c.sendRequest(P.NBD_CMD_BLOCK_STATUS, { handle: 2n, offset: 0, length: 65536 });
  assert.deepEqual((await c.reply()).extents, [
    [8192, 0],
    [65536 - 8192, P.NBD_STATE_HOLE | P.NBD_STATE_ZERO],
  ]);
  c.sendRequest(P.NBD_CMD_BLOCK_STATUS, { handle: 3n, offset: 4096, length: 1000, flags: P.NBD_CMD_FLAG_REQ_ONE });
  assert.deepEqual((await c.reply()).extents, [[1000, 0]]);
});

test("clients that vanish mid-request or send a bad magic are dropped; others keep being served", async (t) => {
  const s = await startTestServer(t);
  const good = await client(t, s);
  const halfHeader = await client(t, s);
  halfHeader.send(Buffer.from([0x25, 0x60, 0x95, 0x13, 0, 0]));
  halfHeader.destroy();
  const halfPayload = await client(t, s);
  halfPayload.sendRequest(P.NBD_CMD_WRITE, { handle: 1n, offset: 0, length: 1 << 20, payload: Buffer.alloc(1000) });
  halfPayload.destroy();
  const hugeWrite = await client(t, s);
  hugeWrite.sendRequest(P.NBD_CMD_WRITE, { handle: 1n, length: 0xffffffff });
  hugeWrite.send(Buffer.alloc(65536));
  hugeWrite.destroy();
  const badMagic = await client(t, s);
  badMagic.send(Buffer.alloc(28, 0xee));
  await badMagic.closed();
  const midHandshake = await RawClient.connect(s.socket);
  midHandshake.send(Buffer.from([0, 0]));
  midHandshake.destroy();

  good.sendRequest(P.NBD_CMD_WRITE, { handle: 5n, offset: 4096, payload: Buffer.alloc(4096, 7) });
  assert.equal((await good.reply()).error, 0);
  good.sendRequest(P.NBD_CMD_READ, { handle: 6n, offset: 0, length: 8192 });
  const r = await good.reply();
  assert.ok(r.data?.subarray(4096).equals(Buffer.alloc(4096, 7)));
  assert.ok(r.data?.subarray(0, 4096).equals(Buffer.alloc(4096)), "the half-sent write was never applied");
});

test("DISC: requests sent before it are answered, then the server closes", async (t) => {
  const s = await startTestServer(t);
  const c = await client(t, s);
  for (let i = 0; i < 8; i++) c.sendRequest(P.NBD_CMD_WRITE, { handle: BigInt(i), offset: i * 65536, payload: randomBytes(65536) });
  c.sendRequest(P.NBD_CMD_DISC, { handle: 99n });
  for (let i = 0; i < 8; i++) assert.equal((await c.reply()).error, 0);
  await c.closed();
});

test("back-pressure: a client that never reads its replies cannot make the server buffer them all", async (t) => {
  const s = await startTestServer(t);
  const c = await client(t, s);
  const count = 512;
  const before = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < count; i++) c.sendRequest(P.NBD_CMD_READ, { handle: BigInt(i), offset: (i % 64) << 20, length: 1 << 20 });
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const grown = process.memoryUsage().arrayBuffers - before;
  assert.ok(grown < 160 * 1024 * 1024, `${grown >> 20} MiB held for ${count} MiB of unread replies`);
  for (let i = 0; i < count; i++) assert.equal((await c.reply(1 << 20)).error, 0);
});

test("a client that trickles its bytes one at a time is served the same", async (t) => {
  const s = await startTestServer(t);
  const c = await RawClient.connect(s.socket);
  t.after(() => {
    c.destroy();
  });
  const sent: Buffer[] = [];
  const realSend = c.send.bind(c);
  c.send = (...parts: Buffer[]) => sent.push(...parts);
  await c.greet();
  c.sendOption(P.NBD_OPT_STRUCTURED_REPLY);
  const data = randomBytes(3000);
  const go = Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from("scratch"), Buffer.from([0, 0])]);
  c.sendOption(P.NBD_OPT_GO, go);
  c.sendRequest(P.NBD_CMD_WRITE, { handle: 1n, offset: 777, payload: data });
  const trickle = async (): Promise<void> => {
    for (const byte of Buffer.concat(sent.splice(0))) {
      realSend(Buffer.from([byte]));
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  await trickle();
  for (const expected of [P.NBD_REP_ACK, P.NBD_REP_INFO, P.NBD_REP_INFO, P.NBD_REP_ACK]) assert.equal((await c.optionReply()).type, expected);
  assert.equal((await c.reply()).error, 0);
  c.sendRequest(P.NBD_CMD_READ, { handle: 2n, offset: 777, length: data.length });
  await trickle();
  assert.ok((await c.reply()).data?.equals(data));
});
