import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import sevenBin from "7zip-bin";
import { formatFromMagic } from "../../src/admin/image-format.js";
import { openStick } from "../../src/chunkstore/open-stick.js";
import { adminKey, fastBuild, haveTool, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

const MiB = 1024 * 1024;
const noQemuImg = haveTool("qemu-img") ? false : "qemu-img is not installed (Debian: qemu-utils)";

function run(cmd: string, args: string[], cwd?: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8" });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
}

/** An image with data, holes and a repeat, so that format converters keep sparse regions sparse. */
async function sampleImage(dir: string): Promise<{ path: string; bytes: Buffer }> {
  return writeImage(dir, [{ random: 3 * MiB + 4096 }, { zeros: 2 * MiB }, { repeat: 0 }, { random: 512 }]);
}

async function buildAndReadBack(t: Parameters<typeof tempDir>[0], dir: string, image: string, expected: Buffer): Promise<void> {
  const out = join(dir, `stick-${Math.random().toString(36).slice(2)}`);
  await fastBuild({ image, out, signingKey: await adminKey(await tempDir(t)) });
  const stick = await openStick(out, { passphrase: PASSPHRASE });
  try {
    // qemu formats round the virtual size up to their own granularity; the extra is zeros
    assert.ok(stick.base.size >= expected.length, `size ${stick.base.size} < ${expected.length}`);
    const all = await stick.base.read(0, stick.base.size);
    assert.ok(all.subarray(0, expected.length).equals(expected), "base reads back equal to the raw image");
    assert.ok(all.subarray(expected.length).every((b) => b === 0));
  } finally {
    await stick.close();
  }
}

for (const format of ["qcow2", "vmdk", "vhdx", "vdi"] as const) {
  test(`a ${format} made by qemu-img convert builds into a stick whose base equals the raw image`, { skip: noQemuImg }, async (t) => {
    const dir = await tempDir(t);
    const { path, bytes } = await sampleImage(dir);
    const converted = join(dir, `disk.${format}`);
    run("qemu-img", ["convert", "-O", format, path, converted]);
    assert.equal(formatFromMagic((await readFile(converted)).subarray(0, 512)), format, "format is recognised by its magic");
    await buildAndReadBack(t, dir, converted, bytes);
  });
}

test("a compressed qcow2 builds too", { skip: noQemuImg }, async (t) => {
  const dir = await tempDir(t);
  const { path, bytes } = await sampleImage(dir);
  const converted = join(dir, "disk.qcow2");
  run("qemu-img", ["convert", "-c", "-O", "qcow2", path, converted]);
  await buildAndReadBack(t, dir, converted, bytes);
});

async function sevenZip(): Promise<string> {
  await chmod(sevenBin.path7za, 0o755);
  return sevenBin.path7za;
}

for (const kind of ["7z", "zip"] as const) {
  test(`a raw image inside a .${kind} archive is found and used`, async (t) => {
    const dir = await tempDir(t);
    const { bytes } = await sampleImage(dir);
    await writeFile(join(dir, "notes.txt"), "not the disk");
    const archive = join(dir, `vm.${kind}`);
    run(await sevenZip(), ["a", `-t${kind}`, archive, "image.raw", "notes.txt"], dir);
    await buildAndReadBack(t, dir, archive, bytes);
  });
}

test("an .ova (tar with an OVF and a stream-optimized vmdk) builds from its disk", { skip: noQemuImg }, async (t) => {
  const dir = await tempDir(t);
  const { path, bytes } = await sampleImage(dir);
  run("qemu-img", ["convert", "-O", "vmdk", "-o", "subformat=streamOptimized", path, join(dir, "disk1.vmdk")]);
  await writeFile(join(dir, "vm.ovf"), '<?xml version="1.0"?><Envelope/>');
  run("tar", ["cf", "vm.ova", "vm.ovf", "disk1.vmdk"], dir);
  await buildAndReadBack(t, dir, join(dir, "vm.ova"), bytes);
});

test("an archive without a disk image is refused clearly", async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, "readme.txt"), "hello");
  const archive = join(dir, "docs.zip");
  run(await sevenZip(), ["a", "-tzip", archive, "readme.txt"], dir);
  await assert.rejects(fastBuild({ image: archive, out: join(dir, "stick"), signingKey: await adminKey(dir) }), /holds no disk image/);
});
