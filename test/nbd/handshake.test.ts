// The handshake byte by byte, with a raw client: what each option gets back.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_BLOCK_SIZE, MAX_OPTION_BYTES, MIN_BLOCK_SIZE, PREFERRED_BLOCK_SIZE } from "../../src/nbd/limits.js";
import * as P from "../../src/nbd/protocol.js";
import { infoRequest, metaRequest, RawClient, SCRATCH_DESCRIPTION, SCRATCH_SIZE, startTestServer, u32, ZERO_SIZE } from "./nbd-helpers.js";

function infoOf(replies: { type: number; data: Buffer }[], info: number): Buffer | undefined {
  return replies.find((r) => r.type === P.NBD_REP_INFO && r.data.readUInt16BE(0) === info)?.data;
}

test("greeting offers fixed newstyle and no-zeroes; unknown client flags end the connection", async (t) => {
  const s = await startTestServer(t);
  const c = await RawClient.connect(s.socket);
  t.after(() => {
    c.destroy();
  });
  assert.equal(await c.greet(1 << 5), P.NBD_FLAG_FIXED_NEWSTYLE | P.NBD_FLAG_NO_ZEROES);
  await c.closed();
});

test("LIST names every export with its description; data with LIST is invalid", async (t) => {
  const s = await startTestServer(t);
  const c = await RawClient.connect(s.socket);
  t.after(() => {
    c.destroy();
  });
  await c.greet();
  const replies = await c.option(P.NBD_OPT_LIST);
  assert.deepEqual(
    replies.map((r) => r.type),
    [P.NBD_REP_SERVER, P.NBD_REP_SERVER, P.NBD_REP_ACK],
  );
  const first = replies[0]?.data ?? Buffer.alloc(0);
  const nameLength = first.readUInt32BE(0);
  assert.equal(first.toString("utf8", 4, 4 + nameLength), "scratch");
  assert.equal(first.toString("utf8", 4 + nameLength), SCRATCH_DESCRIPTION);
  assert.equal((await c.option(P.NBD_OPT_LIST, Buffer.from("x"))).at(-1)?.type, P.NBD_REP_ERR_INVALID);
});

test("INFO gives size, flags, block sizes, name and description, and stays in the handshake", async (t) => {
  const s = await startTestServer(t);
  const c = await RawClient.connect(s.socket);
  t.after(() => {
    c.destroy();
  });
  await c.greet();
  const replies = await c.option(P.NBD_OPT_INFO, infoRequest("scratch", [P.NBD_INFO_NAME, P.NBD_INFO_DESCRIPTION, P.NBD_INFO_BLOCK_SIZE]));
  assert.equal(replies.at(-1)?.type, P.NBD_REP_ACK);
  const exp = infoOf(replies, P.NBD_INFO_EXPORT);
  assert.equal(Number(exp?.readBigUInt64BE(2)), SCRATCH_SIZE);
  const flags = exp?.readUInt16BE(10) ?? 0;
  for (const f of [P.NBD_FLAG_HAS_FLAGS, P.NBD_FLAG_SEND_FLUSH, P.NBD_FLAG_SEND_FUA, P.NBD_FLAG_SEND_TRIM, P.NBD_FLAG_SEND_WRITE_ZEROES, P.NBD_FLAG_CAN_MULTI_CONN]) {
    assert.ok(flags & f, `flag ${f}`);
  }
  assert.equal(flags & (P.NBD_FLAG_READ_ONLY | P.NBD_FLAG_SEND_DF), 0, "not read-only; DF only with structured replies");
  const bs = infoOf(replies, P.NBD_INFO_BLOCK_SIZE);
  assert.deepEqual([bs?.readUInt32BE(2), bs?.readUInt32BE(6), bs?.readUInt32BE(10)], [MIN_BLOCK_SIZE, PREFERRED_BLOCK_SIZE, MAX_BLOCK_SIZE]);
  assert.equal(infoOf(replies, P.NBD_INFO_NAME)?.toString("utf8", 2), "scratch");
  assert.equal(infoOf(replies, P.NBD_INFO_DESCRIPTION)?.toString("utf8", 2), SCRATCH_DESCRIPTION);

  // Still negotiating: unknown exports and malformed requests get errors, then GO on the read-only export works.
  assert.equal((await c.option(P.NBD_OPT_INFO, infoRequest("nope", []))).at(-1)?.type, P.NBD_REP_ERR_UNKNOWN);
  assert.equal((await c.option(P.NBD_OPT_GO, Buffer.from([0, 0, 0, 9, 1]))).at(-1)?.type, P.NBD_REP_ERR_INVALID);
  await c.option(P.NBD_OPT_STRUCTURED_REPLY);
  const go = await c.option(P.NBD_OPT_GO, infoRequest("zeros", []));
  assert.equal(go.at(-1)?.type, P.NBD_REP_ACK);
  const zflags = infoOf(go, P.NBD_INFO_EXPORT)?.readUInt16BE(10) ?? 0;
  assert.ok(zflags & P.NBD_FLAG_READ_ONLY && zflags & P.NBD_FLAG_SEND_DF);
  assert.equal(Number(infoOf(go, P.NBD_INFO_EXPORT)?.readBigUInt64BE(2)), ZERO_SIZE);
});

test("EXPORT_NAME answers size and flags, with the 124 zero bytes only without NO_ZEROES", async (t) => {
  const s = await startTestServer(t);
  for (const noZeroes of [false, true]) {
    const c = await RawClient.connect(s.socket);
    t.after(() => {
      c.destroy();
    });
    await c.greet(P.NBD_FLAG_C_FIXED_NEWSTYLE | (noZeroes ? P.NBD_FLAG_C_NO_ZEROES : 0));
    c.sendOption(P.NBD_OPT_EXPORT_NAME, Buffer.from("scratch"));
    const reply = await c.reader.read(noZeroes ? 10 : 134);
    assert.equal(Number(reply.readBigUInt64BE(0)), SCRATCH_SIZE);
    if (!noZeroes) assert.ok(reply.subarray(10).equals(Buffer.alloc(124)));
    // Transmission has begun: a FLUSH gets a simple reply right after, nothing in between.
    c.sendRequest(P.NBD_CMD_FLUSH, { handle: 7n });
    const r = await c.reply();
    assert.deepEqual([r.handle, r.error, r.structured], [7n, 0, false]);
  }
  const bad = await RawClient.connect(s.socket);
  await bad.greet();
  bad.sendOption(P.NBD_OPT_EXPORT_NAME, Buffer.from("nope"));
  await bad.closed();
});

test("unknown options, EXTENDED_HEADERS and STARTTLS get ERR_UNSUP and parsing goes on; ABORT is acknowledged", async (t) => {
  const s = await startTestServer(t);
  const c = await RawClient.connect(s.socket);
  t.after(() => {
    c.destroy();
  });
  await c.greet();
  for (const opt of [P.NBD_OPT_EXTENDED_HEADERS, P.NBD_OPT_STARTTLS, 4, 12, 0x7fffffff, 0xffffffff]) {
    const replies = await c.option(opt, Buffer.from("some payload to skip"));
    assert.deepEqual(replies.map((r) => r.type), [P.NBD_REP_ERR_UNSUP], `option ${opt}`);
  }
  // Oversized payloads are skipped without being held: unknown → UNSUP, known → TOO_BIG.
  const big = Buffer.alloc(MAX_OPTION_BYTES + 1);
  assert.equal((await c.option(99, big))[0]?.type, P.NBD_REP_ERR_UNSUP);
  assert.equal((await c.option(P.NBD_OPT_GO, big))[0]?.type, P.NBD_REP_ERR_TOO_BIG);
  assert.deepEqual((await c.option(P.NBD_OPT_ABORT)).map((r) => r.type), [P.NBD_REP_ACK]);
  await c.closed();
});

test("meta contexts: base:allocation only, once, and only after structured replies", async (t) => {
  const s = await startTestServer(t);
  const c = await RawClient.connect(s.socket);
  t.after(() => {
    c.destroy();
  });
  await c.greet();
  assert.equal((await c.option(P.NBD_OPT_SET_META_CONTEXT, metaRequest("scratch", [P.BASE_ALLOCATION]))).at(-1)?.type, P.NBD_REP_ERR_INVALID);
  await c.option(P.NBD_OPT_STRUCTURED_REPLY);
  const names = (replies: { type: number; data: Buffer }[]): string[] =>
    replies.filter((r) => r.type === P.NBD_REP_META_CONTEXT).map((r) => r.data.toString("utf8", 4));
  assert.deepEqual(names(await c.option(P.NBD_OPT_LIST_META_CONTEXT, metaRequest("scratch", []))), [P.BASE_ALLOCATION]);
  assert.deepEqual(names(await c.option(P.NBD_OPT_LIST_META_CONTEXT, metaRequest("scratch", ["base:"]))), [P.BASE_ALLOCATION]);
  assert.deepEqual(names(await c.option(P.NBD_OPT_LIST_META_CONTEXT, metaRequest("scratch", ["qemu:dirty-bitmap:x"]))), []);
  const set = await c.option(P.NBD_OPT_SET_META_CONTEXT, metaRequest("scratch", [P.BASE_ALLOCATION, "qemu:allocation-depth", P.BASE_ALLOCATION]));
  assert.deepEqual(names(set), [P.BASE_ALLOCATION]);
  assert.equal(set.at(-1)?.type, P.NBD_REP_ACK);
  assert.equal((await c.option(P.NBD_OPT_SET_META_CONTEXT, metaRequest("nope", [P.BASE_ALLOCATION]))).at(-1)?.type, P.NBD_REP_ERR_UNKNOWN);
  const truncated = Buffer.concat([u32(7), Buffer.from("scratch"), u32(1), u32(100), Buffer.from("base:")]);
  assert.equal((await c.option(P.NBD_OPT_SET_META_CONTEXT, truncated)).at(-1)?.type, P.NBD_REP_ERR_INVALID);
});
