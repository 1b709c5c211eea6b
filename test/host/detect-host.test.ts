import assert from "node:assert/strict";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseHeaderCopy, encodeHeaderCopy } from "../../stick-layout/header.js";
import { cacheDir } from "../../src/host/cache-dir.js";
import { detectHost } from "../../src/host/detect-host.js";
import { detectDisplay } from "../../src/host/display.js";
import { formatHost } from "../../src/host/format-host.js";
import { REPO_ROOT, tempDir } from "../helpers/sticks.js";

const FIXTURE_STICK = join(REPO_ROOT, "test", "fixtures", "stick-v1", "stick");

test("detection on this machine: sane facts, and no accelerator, so TCG (DESIGN section 8)", async () => {
  const host = await detectHost({ stick: FIXTURE_STICK, requireStick: true });
  assert.equal(host.system.platform, process.platform);
  assert.equal(host.system.arch, process.arch);
  assert.equal(host.system.cpus, os.availableParallelism());
  assert.ok(host.system.totalMemoryBytes > 0 && host.system.freeMemoryBytes > 0);
  assert.ok(host.system.freeMemoryBytes <= host.system.totalMemoryBytes);
  assert.ok(host.cache.freeBytes !== null && host.cache.freeBytes > 0, "the cache's file system has room");
  assert.ok(host.cache.measuredAt !== null && host.cache.path.startsWith(host.cache.measuredAt));
  // the machines we build and test on cannot run KVM guests, even where /dev/kvm opens for root
  assert.notEqual(host.accelerator.status, "usable", host.accelerator.reason);
  assert.deepEqual(host.accelerators, ["tcg"]);
  assert.match(formatHost(host), /software emulation \(TCG\), expect a slower guest/);
  if (process.platform === "linux") assert.ok(host.stick.fileSystem !== null && host.stick.fileSystem.mountPoint.length > 0);
  // a container without /etc/machine-id has no host id, and says why
  if (host.hostId.id === null) assert.match(host.hostId.basis, /machine id cannot be read/);
  else assert.match(host.hostId.id, /^[0-9a-f]{32}$/);
  assert.deepEqual(Object.keys(host).sort(), ["accelerator", "accelerators", "cache", "display", "hostId", "stick", "system"]);
});

/** A folder holding a copy of the fixture's stick.hdr under another stick id. */
async function stickWithId(dir: string, name: string, stickId: Buffer): Promise<string> {
  const folder = join(dir, name);
  await mkdir(folder);
  const copy = parseHeaderCopy((await readFile(join(FIXTURE_STICK, "stick.hdr"))).subarray(0, 4096));
  const header = encodeHeaderCopy({ ...copy.header, stickId }, Buffer.alloc(32));
  await writeFile(join(folder, "stick.hdr"), Buffer.concat([header, header]));
  return folder;
}

test("the host id is stable for one host and one stick, differs between sticks and hosts, and needs a stick", async (t) => {
  const dir = await tempDir(t);
  const a = await stickWithId(dir, "a", Buffer.alloc(16, 1));
  const b = await stickWithId(dir, "b", Buffer.alloc(16, 2));
  const id = async (stick: string, machine: string) => (await detectHost({ stick, requireStick: true, machineId: () => Promise.resolve(machine) })).hostId.id;
  const first = await id(a, "machine-1");
  assert.match(first ?? "", /^[0-9a-f]{32}$/);
  assert.equal(await id(a, "machine-1"), first);
  assert.notEqual(await id(b, "machine-1"), first);
  assert.notEqual(await id(a, "machine-2"), first);
  assert.ok(!(first ?? "").includes("machine-1"));

  const unknown = await detectHost({ stick: a, requireStick: true, machineId: () => Promise.resolve(undefined) });
  assert.equal(unknown.hostId.id, null);
  assert.match(unknown.hostId.basis, /machine id cannot be read/);

  const empty = join(dir, "empty");
  await mkdir(empty);
  const noStick = await detectHost({ stick: empty, requireStick: false });
  assert.equal(noStick.hostId.id, null, "a folder without stick.hdr (the executable's own, when it is not a stick) has no host id");
  assert.match(noStick.hostId.basis, /give --stick/);
  await assert.rejects(detectHost({ stick: empty, requireStick: true }), { code: "INCOMPLETE_STICK" });
  await assert.rejects(detectHost({ stick: join(dir, "absent"), requireStick: true }), { code: "USAGE" });
});

test("the stick's file system comes from mountinfo: noexec and showexec are seen, and explained", async (t) => {
  const dir = await tempDir(t);
  const stick = join(dir, "stick");
  await mkdir(stick);
  await copyFile(join(FIXTURE_STICK, "stick.hdr"), join(stick, "stick.hdr"));
  const mountinfo = join(dir, "mountinfo");
  const detect = async (line: string) => {
    await writeFile(mountinfo, `29 1 254:1 / / rw - ext4 /dev/vda rw\n${line}\n`);
    return detectHost({ stick, requireStick: true, platform: "linux", mountinfoPath: mountinfo });
  };
  const mounted = dir.replaceAll(" ", "\\040");
  const fat = await detect(`40 29 8:17 / ${mounted} rw,nosuid - vfat /dev/sdb1 rw,showexec,utf8`);
  assert.deepEqual(
    [fat.stick.fileSystem?.fsType, fat.stick.fileSystem?.family, fat.stick.fileSystem?.showexec, fat.stick.fileSystem?.noexec],
    ["vfat", "fat", true, false],
  );
  assert.match(formatHost(fat), /showexec: .*sh run\.sh/);
  assert.match(formatHost(fat), /under 4 GiB/);
  const exfat = await detect(`40 29 8:17 / ${mounted} rw,nosuid,noexec - exfat /dev/sdb1 rw`);
  assert.deepEqual([exfat.stick.fileSystem?.family, exfat.stick.fileSystem?.noexec], ["exfat", true]);
  assert.match(formatHost(exfat), /noexec: nothing on the stick can run directly/);
  const readOnly = await detect(`40 29 8:17 / ${mounted} ro,nosuid - ntfs3 /dev/sdb1 ro,uid=1000`);
  assert.deepEqual([readOnly.stick.fileSystem?.family, readOnly.stick.fileSystem?.readOnly], ["ntfs", true]);
  assert.match(formatHost(readOnly), /read-only: .*remount it read-write/);

  const mac = await detectHost({
    stick,
    requireStick: true,
    platform: "darwin",
    macMounts: () => Promise.resolve(`/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)\n/dev/disk4s1 on ${dir} (msdos, local, nodev, nosuid, noexec, noowners)\n`),
  });
  assert.deepEqual(
    [mac.stick.fileSystem?.fsType, mac.stick.fileSystem?.family, mac.stick.fileSystem?.noexec, mac.stick.fileSystem?.readOnly, mac.stick.fileSystem?.source],
    ["msdos", "fat", true, false, "/dev/disk4s1"],
  );
  const other = await detectHost({ stick, requireStick: true, platform: "win32", env: {}, home: dir });
  assert.equal(other.stick.fileSystem, null);
  assert.match(formatHost(other), /not detected on this OS/);
});

test("the cache goes where each OS keeps per-user caches", () => {
  assert.equal(cacheDir("linux", { XDG_CACHE_HOME: "/xdg" }, "/home/a"), "/xdg/stickvm");
  assert.equal(cacheDir("linux", { XDG_CACHE_HOME: "relative" }, "/home/a"), "/home/a/.cache/stickvm", "a relative XDG_CACHE_HOME is ignored");
  assert.equal(cacheDir("linux", {}, "/home/a"), "/home/a/.cache/stickvm");
  assert.equal(cacheDir("darwin", {}, "/Users/a"), "/Users/a/Library/Caches/stickvm");
  assert.equal(cacheDir("win32", { LOCALAPPDATA: "C:\\Users\\a\\AppData\\Local" }, "C:\\Users\\a"), "C:\\Users\\a\\AppData\\Local\\stickvm");
  assert.equal(cacheDir("win32", {}, "C:\\Users\\a"), "C:\\Users\\a\\AppData\\Local\\stickvm");
});

test("a display is there when DISPLAY or WAYLAND_DISPLAY is set on Linux, and always on macOS and Windows", () => {
  assert.equal(detectDisplay("linux", {}).available, false);
  assert.equal(detectDisplay("linux", { DISPLAY: "" }).available, false);
  assert.deepEqual(detectDisplay("linux", { DISPLAY: ":0" }), { available: true, how: "DISPLAY=:0" });
  assert.equal(detectDisplay("linux", { WAYLAND_DISPLAY: "wayland-0" }).available, true);
  assert.equal(detectDisplay("darwin", {}).available, true);
  assert.equal(detectDisplay("win32", {}).available, true);
});
