import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { runClient, serve } from "../helpers/serve.js";
import { haveTool } from "../helpers/sticks.js";
import { cacheStick } from "./cache-helpers.js";

const skip = haveTool("qemu-img") ? false : "not installed: qemu-img";

/** Serves the stick with `--cache-dir --stats`, copies its system disk out, stops: the counters printed at exit. */
async function servedOnce(stick: string, cacheDir: string, socket: string, out: string): Promise<Map<string, string>> {
  const s = await serve(["--stick", stick, "--socket", socket, "--cache-dir", cacheDir, "--stats"]);
  runClient("qemu-img", ["convert", "-f", "raw", "-O", "raw", s.exports.get("system")?.uri ?? "", out]);
  assert.equal(await s.stop(), 0, s.output());
  assert.match(s.output(), /^stickvm: host cache: \d+ hits/m);
  return new Map([...s.output().matchAll(/^cache\.(\w+) (.*)$/gm)].map((m) => [m[1] ?? "", m[2] ?? ""]));
}

test("stickvm serve --cache-dir --stats: a trusted host's second session reads the system disk from the cache", { skip }, async (t) => {
  const { stick, dir } = await cacheStick(t, 8, { host: "trusted" });
  const cacheDir = join(dir, "host-cache");
  const first = await servedOnce(stick, cacheDir, join(dir, "nbd.sock"), join(dir, "one.raw"));
  assert.equal(first.get("hits"), "0");
  assert.equal(first.get("misses"), "8");
  assert.equal(first.get("inserts"), "8");
  const second = await servedOnce(stick, cacheDir, join(dir, "nbd.sock"), join(dir, "two.raw"));
  assert.equal(second.get("hits"), "8");
  assert.equal(second.get("misses"), "0");
  assert.equal(second.get("bytesFromStick"), "0");
});

test("stickvm serve --cache-dir: a kiosk's cache is gone after the session", { skip }, async (t) => {
  const { stick, dir } = await cacheStick(t, 4);
  const cacheDir = join(dir, "host-cache");
  const stats = await servedOnce(stick, cacheDir, join(dir, "nbd.sock"), join(dir, "out.raw"));
  assert.equal(stats.get("inserts"), "4");
  await assert.rejects(readdir(cacheDir), { code: "ENOENT" });
});
