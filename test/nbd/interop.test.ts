// Real NBD clients against the server: nbdinfo, nbdcopy, qemu-img, qemu-io, fio.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { createScratchDevice } from "../../src/layers/overlay-device.js";
import { startNbdServer } from "../../src/nbd/server.js";
import { haveTool, tempDir } from "../helpers/sticks.js";
import { SCRATCH_DESCRIPTION, SCRATCH_SIZE, startTestServer, tool, ZERO_DESCRIPTION, ZERO_SIZE } from "./nbd-helpers.js";

function needs(...tools: string[]): { skip: string | false } {
  const missing = tools.filter((t) => !haveTool(t));
  return { skip: missing.length > 0 ? `not installed: ${missing.join(", ")}` : false };
}

function ok(r: { code: number | null; stderr: string }, what: string): void {
  assert.equal(r.code, 0, `${what} failed: ${r.stderr}`);
}

/** 8 MiB of random data, 8 MiB of zeros, 1 MiB random, the rest zeros: data and holes for --map and copies. */
async function testImage(dir: string): Promise<{ path: string; bytes: Buffer }> {
  const bytes = Buffer.alloc(SCRATCH_SIZE);
  randomBytes(8 << 20).copy(bytes, 0);
  randomBytes(1 << 20).copy(bytes, 16 << 20);
  const path = join(dir, "image.raw");
  await writeFile(path, bytes);
  return { path, bytes };
}

test("nbdinfo --list shows every export with its size and description", needs("nbdinfo"), async (t) => {
  const s = await startTestServer(t);
  const r = await tool("nbdinfo", ["--list", "--json", s.uri("")]);
  ok(r, "nbdinfo --list");
  const list = JSON.parse(r.stdout) as { exports: Array<{ "export-name": string; "export-size": number; description?: string; is_read_only: boolean }> };
  const byName = new Map(list.exports.map((e) => [e["export-name"], e]));
  assert.deepEqual([...byName.keys()].sort(), ["scratch", "zeros"]);
  assert.equal(byName.get("scratch")?.["export-size"], SCRATCH_SIZE);
  assert.equal(byName.get("scratch")?.description, SCRATCH_DESCRIPTION);
  assert.equal(byName.get("zeros")?.["export-size"], ZERO_SIZE);
  assert.equal(byName.get("zeros")?.description, ZERO_DESCRIPTION);
  assert.equal(byName.get("zeros")?.is_read_only, true);
});

test("nbdcopy in and out over several connections; nbdinfo --map shows data and holes; qemu-img convert and compare agree", needs("nbdcopy", "nbdinfo", "qemu-img"), async (t) => {
  const s = await startTestServer(t);
  const { path, bytes } = await testImage(s.dir);
  ok(await tool("nbdcopy", ["--connections=4", "--requests=16", path, s.uri("scratch")]), "nbdcopy in");
  const out = join(s.dir, "out.raw");
  ok(await tool("nbdcopy", ["--connections=4", s.uri("scratch"), out]), "nbdcopy out");
  assert.ok((await readFile(out)).equals(bytes), "nbdcopy round trip");

  const map = await tool("nbdinfo", ["--map", "--json", s.uri("scratch")]);
  ok(map, "nbdinfo --map");
  const extents = JSON.parse(map.stdout) as Array<{ offset: number; length: number; type: number }>;
  const dataAt = (offset: number): boolean => {
    const e = extents.find((x) => x.offset <= offset && offset < x.offset + x.length);
    return e !== undefined && (e.type & 1) === 0;
  };
  assert.equal(extents.reduce((n, e) => n + e.length, 0), SCRATCH_SIZE);
  assert.ok(dataAt(0) && dataAt((8 << 20) - 1) && dataAt(16 << 20), "data where it was written");
  assert.ok(!dataAt(12 << 20) && !dataAt(SCRATCH_SIZE - 1), "nbdcopy left the zero ranges as holes");

  const converted = join(s.dir, "converted.raw");
  ok(await tool("qemu-img", ["convert", "-f", "raw", "-O", "raw", s.uri("scratch"), converted]), "qemu-img convert");
  assert.ok((await readFile(converted)).equals(bytes), "qemu-img convert gives back what was written");
  ok(await tool("qemu-img", ["compare", "-f", "raw", "-F", "raw", path, s.uri("scratch")]), "qemu-img compare");
});

test("qemu-io writes patterns at unaligned offsets, flushes, and a new connection reads them back", needs("qemu-io"), async (t) => {
  const s = await startTestServer(t);
  const patterns: Array<[number, number, number]> = [
    [0xa1, 1, 511],
    [0xb2, 4095, 2],
    [0xc3, 65_537, 200_000],
    [0xd4, SCRATCH_SIZE - 1000, 1000],
  ];
  const write = patterns.flatMap(([p, off, len]) => ["-c", `write -P ${p} ${off} ${len}`]);
  ok(await tool("qemu-io", ["-f", "raw", ...write, "-c", "flush", s.uri("scratch")]), "qemu-io write");
  const read = patterns.flatMap(([p, off, len]) => ["-c", `read -P ${p} ${off} ${len}`]);
  const r = await tool("qemu-io", ["-f", "raw", ...read, "-c", "read -P 0 512 3583", s.uri("scratch")]);
  ok(r, "qemu-io read");
  assert.doesNotMatch(r.stdout, /Pattern verification failed/);
});

test("fio random reads and writes, 4 KiB to 1 MiB, verified with crc32c", needs("fio"), async (t) => {
  const s = await startTestServer(t);
  const r = await tool(
    "fio",
    [
      "--name=randrw",
      "--ioengine=nbd",
      `--uri=${s.uri("scratch")}`,
      "--rw=randrw",
      "--bsrange=4k-1m",
      "--iodepth=16",
      "--size=48m",
      "--verify=crc32c",
      "--verify_fatal=1",
      // otherwise fio leaves a verify state file in the current folder
      "--verify_state_save=0",
      "--runtime=8",
      `--directory=${s.dir}`,
      "--output-format=json",
    ],
    60_000,
  );
  ok(r, "fio");
  // fio's nbd engine prints a line of its own before the JSON.
  const job = (JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))) as { jobs: Array<{ error: number; read: { io_bytes: number }; write: { io_bytes: number } }> }).jobs[0];
  assert.ok(job !== undefined);
  assert.equal(job.error, 0);
  assert.ok(job.read.io_bytes > 0 && job.write.io_bytes > 0);
});

test("several qemu-io clients at once, each on its own range", needs("qemu-io"), async (t) => {
  const s = await startTestServer(t);
  const clients = Array.from({ length: 6 }, (_, i) => {
    const base = i * (8 << 20) + 123;
    return tool("qemu-io", ["-f", "raw", "-c", `write -P ${i + 1} ${base} 3000000`, "-c", "flush", "-c", `read -P ${i + 1} ${base} 3000000`, s.uri("scratch")]);
  });
  for (const r of await Promise.all(clients)) {
    ok(r, "qemu-io");
    assert.doesNotMatch(r.stdout, /Pattern verification failed/);
  }
});

test("a read-only export refuses a real client's writes", needs("nbdcopy"), async (t) => {
  const s = await startTestServer(t);
  const src = join(s.dir, "small.raw");
  await writeFile(src, randomBytes(1 << 20));
  const r = await tool("nbdcopy", [src, s.uri("zeros")]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /read.only|not permitted|EPERM/i);
});

test("TCP: bound to 127.0.0.1 only, served like the Unix socket", needs("nbdinfo"), async (t) => {
  const dir = await tempDir(t, "stickvm-nbd-");
  const device = await createScratchDevice({ dir, size: 1 << 20 });
  const server = await startNbdServer({ exports: new Map([["local", { device }]]), listen: { port: 0 } });
  t.after(async () => {
    await server.close();
    await device.close();
  });
  assert.ok("host" in server.address && server.address.host === "127.0.0.1" && server.address.port > 0);
  const r = await tool("nbdinfo", ["--size", server.uri("local")]);
  ok(r, "nbdinfo over TCP");
  assert.equal(r.stdout.trim(), String(1 << 20));
});
