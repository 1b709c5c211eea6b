import assert from "node:assert/strict";
import { chmod, open, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { chooseAccelerator, probeAccelerator, type AcceleratorProbeOptions, type AcceleratorReport } from "../../src/host/accelerator.js";
import { askPlayer } from "../../src/host/player-probe.js";
import { haveTool, tempDir } from "../helpers/sticks.js";

const CPUINFO_HEAD = "processor\t: 0\nvendor_id\t: GenuineIntel\n";

/** A fake /dev/kvm that opens read-write (a regular file) and a cpuinfo with the given flags. */
async function fakeLinux(dir: string, flags: string): Promise<Pick<AcceleratorProbeOptions, "kvmPath" | "cpuinfoPath">> {
  const kvmPath = join(dir, "kvm");
  const cpuinfoPath = join(dir, "cpuinfo");
  await writeFile(kvmPath, "");
  await writeFile(cpuinfoPath, `${CPUINFO_HEAD}flags\t\t: fpu vme de pse ${flags} sse2\n\n`);
  return { kvmPath, cpuinfoPath };
}

function linux(paths: Pick<AcceleratorProbeOptions, "kvmPath" | "cpuinfoPath">, more: Partial<AcceleratorProbeOptions> = {}): Promise<AcceleratorReport> {
  return probeAccelerator({ platform: "linux", arch: "x64", ...paths, ...more });
}

test("Linux: a read-write /dev/kvm on a CPU with vmx or svm is KVM, with TCG behind it", async (t) => {
  const dir = await tempDir(t);
  for (const flag of ["vmx", "svm"]) {
    const a = await linux(await fakeLinux(dir, flag));
    assert.deepEqual([a.name, a.status], ["kvm", "usable"], a.reason);
    assert.deepEqual(chooseAccelerator({ accelerator: a }), ["kvm", "tcg"]);
  }
});

test("Linux: no /dev/kvm means TCG only", async (t) => {
  const dir = await tempDir(t);
  const a = await linux({ ...(await fakeLinux(dir, "vmx")), kvmPath: join(dir, "absent") });
  assert.equal(a.status, "unusable");
  assert.match(a.reason, /no .*absent/);
  assert.deepEqual(chooseAccelerator({ accelerator: a }), ["tcg"]);
});

test("Linux: a /dev/kvm this user cannot open read-write means TCG only", async (t) => {
  const dir = await tempDir(t);
  const paths = await fakeLinux(dir, "vmx");
  await chmod(paths.kvmPath ?? "", 0o400);
  let kvmPath = paths.kvmPath ?? "";
  if (await opensReadWrite(kvmPath)) kvmPath = "/sys/kernel/notes"; // root ignores modes; sysfs refuses writes to read-only files even to root
  if (await opensReadWrite(kvmPath)) {
    t.skip("no file here refuses a read-write open to this user");
    return;
  }
  const a = await linux({ ...paths, kvmPath });
  assert.equal(a.status, "unusable");
  assert.match(a.reason, /not read-write for this user/);
  assert.deepEqual(chooseAccelerator({ accelerator: a }), ["tcg"]);
});

async function opensReadWrite(path: string): Promise<boolean> {
  try {
    await (await open(path, "r+")).close();
    return true;
  } catch {
    return false;
  }
}

test("Linux x86: a /dev/kvm that opens on a CPU without vmx or svm is not used; other architectures do not ask", async (t) => {
  const dir = await tempDir(t);
  const paths = await fakeLinux(dir, "lm nx");
  const a = await linux(paths);
  assert.equal(a.status, "unusable");
  assert.match(a.reason, /neither vmx nor svm/);
  assert.deepEqual(chooseAccelerator({ accelerator: a }), ["tcg"]);
  assert.equal((await linux(paths, { arch: "arm64" })).status, "usable", "arm64 cpuinfo has no vmx/svm flags to check");
});

test("macOS: kern.hv_support 1 is HVF; 0 or unreadable is TCG only", async () => {
  const mac = (value: string | undefined) => probeAccelerator({ platform: "darwin", arch: "arm64", sysctl: (name) => Promise.resolve(name === "kern.hv_support" ? value : undefined) });
  const yes = await mac("1");
  assert.deepEqual([yes.name, yes.status], ["hvf", "usable"]);
  assert.deepEqual(chooseAccelerator({ accelerator: yes }), ["hvf", "tcg"]);
  for (const value of ["0", undefined]) {
    const no = await mac(value);
    assert.equal(no.status, "unusable");
    assert.deepEqual(chooseAccelerator({ accelerator: no }), ["tcg"]);
  }
});

// Windows itself cannot be tested here: these run the Windows branch against a fake system folder and player.
test("Windows: the Hypervisor Platform's DLL makes WHPX worth trying; the player confirms or refuses it", async (t) => {
  const dir = await tempDir(t);
  const win = (player?: AcceleratorProbeOptions["player"]) => probeAccelerator({ platform: "win32", arch: "x64", windowsSystemDir: dir, ...(player ? { player } : {}) });
  const off = await win();
  assert.equal(off.status, "unusable");
  assert.match(off.reason, /feature is off/);
  assert.deepEqual(chooseAccelerator({ accelerator: off }), ["tcg"]);

  await writeFile(join(dir, "WinHvPlatform.dll"), "");
  const unasked = await win();
  assert.deepEqual([unasked.name, unasked.status], ["whpx", "unconfirmed"]);
  assert.deepEqual(chooseAccelerator({ accelerator: unasked }), ["whpx", "tcg"], "QEMU falls back to TCG itself when WHPX does not start");

  const asked: string[] = [];
  const confirmed = await win((accel) => {
    asked.push(accel);
    return Promise.resolve(true);
  });
  assert.deepEqual(asked, ["whpx"]);
  assert.equal(confirmed.status, "usable");
  const refused = await win(() => Promise.resolve(false));
  assert.equal(refused.status, "unusable");
  assert.match(refused.reason, /player cannot start with whpx/);
  assert.deepEqual(chooseAccelerator({ accelerator: refused }), ["tcg"]);
});

test("a player that refuses KVM overrides a /dev/kvm that looks usable; an OS without an accelerator is never asked", async (t) => {
  const dir = await tempDir(t);
  const refused = await linux(await fakeLinux(dir, "vmx"), { player: () => Promise.resolve(false) });
  assert.equal(refused.status, "unusable");
  const other = await probeAccelerator({ platform: "freebsd", arch: "x64", player: () => Promise.reject(new Error("asked")) });
  assert.deepEqual([other.name, other.status], [null, "unusable"]);
  assert.deepEqual(chooseAccelerator({ accelerator: other }), ["tcg"]);
});

test("askPlayer: a real QEMU starts with TCG and not with an accelerator it was not built with; a missing player says no", { skip: !haveTool("qemu-system-x86_64") && "qemu-system-x86_64 is not installed" }, async () => {
  const player = askPlayer("qemu-system-x86_64");
  assert.equal(await player("tcg"), true);
  assert.equal(await player("whpx"), false, "Linux builds of QEMU have no WHPX");
  assert.equal(await askPlayer("/nonexistent/qemu")("kvm"), false);
});
