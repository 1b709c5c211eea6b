import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { verifyStick } from "../../src/admin/verify.js";
import { runClient as run, serve } from "../helpers/serve.js";
import { adminKey, fastBuild, haveTool, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

const MiB = 1024 * 1024;
const missing = ["nbdcopy", "qemu-img", "qemu-io"].filter((t) => !haveTool(t));
const skip = missing.length > 0 ? `not installed: ${missing.join(", ")}` : false;

/** The whole export, copied out with nbdcopy. */
async function copyOut(uri: string, to: string): Promise<Buffer> {
  run("nbdcopy", [uri, to]);
  return readFile(to);
}

test("stickvm serve: the user disk starts as the stick's user template (qcow2 given), and writes over it persist", { skip }, async (t) => {
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: 2 * MiB }]);
  // a "pre-formatted profile disk": data, a hole, data; handed to the build as qcow2
  const template = Buffer.concat([randomBytes(3 * MiB), Buffer.alloc(2 * MiB), randomBytes(MiB + 4096)]);
  const templateRaw = join(dir, "profile.raw");
  await writeFile(templateRaw, template);
  const templateQcow2 = join(dir, "profile.qcow2");
  run("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", templateRaw, templateQcow2]);
  const stick = join(dir, "stick");
  await fastBuild({ image, out: stick, signingKey: await adminKey(dir), userImage: templateQcow2, userImageFormat: "qcow2", localSize: 4 * MiB });
  const socket = join(dir, "nbd.sock");

  let s = await serve(["--stick", stick, "--socket", socket]);
  t.after(() => s.proc.kill("SIGKILL"));
  const uri = (name: string): string => s.exports.get(name)?.uri ?? "";
  assert.equal(s.exports.get("user")?.size, template.length);
  assert.ok((await copyOut(uri("user"), join(dir, "user-1.raw"))).equals(template), "the user disk is the template byte for byte");
  run("qemu-img", ["compare", "-f", "raw", "-F", "raw", templateRaw, uri("user")]);
  run("qemu-img", ["compare", "-f", "raw", "-F", "raw", image, uri("system")]);

  // write over the template: a partial block inside its data, a range across the hole
  run("qemu-io", ["-f", "raw", "-c", "write -P 0x5a 1000 70001", "-c", "write -P 0xa5 3100000 1048576", "-c", "flush", uri("user")]);
  assert.equal(await s.stop(), 0, s.output());

  s = await serve(["--stick", stick, "--socket", socket]);
  const expected = Buffer.from(template);
  expected.fill(0x5a, 1000, 1000 + 70001);
  expected.fill(0xa5, 3100000, 3100000 + 1048576);
  assert.ok((await copyOut(uri("user"), join(dir, "user-2.raw"))).equals(expected), "the writes persist over the template, the rest is the template");
  assert.equal(await s.stop(), 0, s.output());

  // serving changed nothing the build wrote: the template's chunks still verify
  const r = await verifyStick(stick, { passphrase: PASSPHRASE });
  assert.equal(r.ok, true, JSON.stringify(r));
});
