// The argv qemuArgs gives for each policy item, started in the real QEMU: what the machine then has.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { createScratchDevice } from "../../src/layers/overlay-device.js";
import { startNbdServer } from "../../src/nbd/server.js";
import { probeCapabilities } from "../../src/player/player-capabilities.js";
import { qemuArgs } from "../../src/player/qemu-args.js";
import { QmpClient } from "../../src/player/qmp.js";
import { DEFAULT_PLAYER_POLICY, type PlayerPolicy } from "../../src/policy/player-policy.js";
import { haveTool, tempDir } from "../helpers/sticks.js";

const MiB = 1024 * 1024;
const skip = haveTool("qemu-system-x86_64") ? false : "not installed: qemu-system-x86_64";

interface Machine {
  network: string;
  peripherals: string[];
  chardevs: string[];
  cpus: number;
  memoryMiB: number;
}

/** Starts QEMU paused (-S) with qemuArgs' argv for `policy` in a window (shown nowhere: -display none comes last), and reads what it made. */
async function machineFor(dir: string, policy: PlayerPolicy): Promise<Machine> {
  const devices = new Map(await Promise.all(["system", "user", "local"].map(async (name) => [name, { device: await createScratchDevice({ dir, size: 16 * MiB, name }) }] as const)));
  const server = await startNbdServer({ exports: devices, listen: { socket: join(dir, "nbd.sock") } });
  const qmpAt = { socket: join(dir, "qmp.sock") };
  const binary = "qemu-system-x86_64";
  const args = qemuArgs({
    host: { cpus: 2, freeMemoryBytes: 4096 * MiB, accelerators: ["tcg"] },
    policy,
    nbd: server.address,
    qmp: qmpAt,
    capabilities: await probeCapabilities({ kind: "host", binary }),
    display: "window",
  });
  const qemu = spawn(binary, [...args, "-display", "none", "-S"], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  qemu.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  let alive = true;
  const exited = new Promise<void>((resolve) => qemu.on("exit", () => { alive = false; resolve(); }));
  try {
    const qmp = await QmpClient.connect(qmpAt, { timeoutMs: 20_000, alive: () => alive }).catch((err: unknown) => {
      throw new Error(`QEMU did not start: ${stderr}`, { cause: err });
    });
    const network = (await qmp.execute("human-monitor-command", { "command-line": "info network" })) as string;
    const peripherals = ((await qmp.execute("qom-list", { path: "/machine/peripheral" })) as { name: string }[]).map((p) => p.name);
    const chardevs = ((await qmp.execute("query-chardev")) as { label: string }[]).map((c) => c.label);
    const cpus = ((await qmp.execute("query-cpus-fast")) as unknown[]).length;
    const memoryMiB = ((await qmp.execute("query-memory-size-summary")) as { "base-memory": number })["base-memory"] / MiB;
    await qmp.execute("quit").catch(() => undefined);
    await exited;
    return { network, peripherals, chardevs, cpus, memoryMiB };
  } finally {
    qemu.kill("SIGKILL");
    await server.close();
    for (const { device } of devices.values()) await device.close();
  }
}

test("qemu args in the real QEMU: the default policy gives a user-mode NIC, no USB pass-through controller, no clipboard channel", { skip, timeout: 120_000 }, async (t) => {
  const m = await machineFor(await tempDir(t), DEFAULT_PLAYER_POLICY);
  assert.match(m.network, /virtio-net-pci\.0:.*\r?\n\s*\\ net0: index=0,type=user,.*restrict=off/);
  assert.ok(!m.peripherals.includes("passthrough"), m.peripherals.join());
  assert.ok(!m.chardevs.includes("vdagent"), m.chardevs.join());
  assert.equal(m.cpus, 2);
  assert.equal(m.memoryMiB, 2048);
});

test("qemu args in the real QEMU: network off, USB pass-through, clipboard, 1 CPU and 300 MiB give exactly that machine", { skip, timeout: 120_000 }, async (t) => {
  const m = await machineFor(await tempDir(t), { ...DEFAULT_PLAYER_POLICY, network: "off", usbPassthrough: true, clipboard: true, cpus: 1, memoryBytes: 300 * MiB });
  assert.doesNotMatch(m.network, /type=user|virtio-net/);
  assert.ok(m.peripherals.includes("passthrough"), m.peripherals.join());
  assert.ok(m.peripherals.includes("vdagent-serial"), m.peripherals.join());
  assert.ok(m.chardevs.includes("vdagent"), m.chardevs.join());
  assert.equal(m.cpus, 1);
  assert.equal(m.memoryMiB, 300);
});
