import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_PLAYER_POLICY, type PlayerPolicy } from "../../src/policy/player-policy.js";
import { qemuArgs, type QemuArgsInput } from "../../src/player/qemu-args.js";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const base: QemuArgsInput = {
  host: { cpus: 8, freeMemoryBytes: 16 * GiB, accelerators: ["kvm", "tcg"] },
  policy: DEFAULT_PLAYER_POLICY,
  nbd: { socket: "/run/stickvm/nbd.sock" },
  qmp: { socket: "/run/stickvm/qmp.sock" },
  capabilities: { sandbox: true, vdagent: true },
  display: "none",
};
const withPolicy = (p: Partial<PlayerPolicy>): Partial<QemuArgsInput> => ({ policy: { ...DEFAULT_PLAYER_POLICY, ...p } });

/** The values of every occurrence of an option, in order. */
function values(args: string[], option: string): string[] {
  return args.flatMap((a, i) => (a === option ? [args[i + 1] ?? "<missing>"] : []));
}

const cases: { name: string; change: Partial<QemuArgsInput>; option: string; want: string[] }[] = [
  { name: "policy memory fits in free RAM", change: {}, option: "-m", want: ["2048"] },
  { name: "memory capped to free RAM less the host's reserve", change: { host: { ...base.host, freeMemoryBytes: 1536 * MiB } }, option: "-m", want: ["1024"] },
  { name: "memory exactly at the minimum", change: { host: { ...base.host, freeMemoryBytes: 768 * MiB } }, option: "-m", want: ["256"] },
  { name: "memory not a whole MiB rounds down", change: withPolicy({ memoryBytes: 1 * GiB + 1000 }), option: "-m", want: ["1024"] },
  { name: "cpus from the policy", change: withPolicy({ cpus: 3 }), option: "-smp", want: ["3"] },
  { name: "cpus capped to the host's", change: { ...withPolicy({ cpus: 16 }), host: { ...base.host, cpus: 2 } }, option: "-smp", want: ["2"] },
  { name: "accelerators in order, tcg last", change: {}, option: "-accel", want: ["kvm", "tcg"] },
  { name: "tcg alone", change: { host: { ...base.host, accelerators: ["tcg"] } }, option: "-accel", want: ["tcg"] },
  { name: "user-mode network", change: {}, option: "-netdev", want: ["user,id=net0"] },
  { name: "user-mode network: a virtio NIC on it", change: {}, option: "-nic", want: [] },
  { name: "network off: no netdev", change: withPolicy({ network: "off" }), option: "-netdev", want: [] },
  { name: "network off: no nic", change: withPolicy({ network: "off" }), option: "-nic", want: ["none"] },
  { name: "sandbox where supported", change: {}, option: "-sandbox", want: ["on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"] },
  { name: "no sandbox where the build lacks it", change: { capabilities: { sandbox: false, vdagent: true } }, option: "-sandbox", want: [] },
  { name: "disk boot: no kernel", change: {}, option: "-kernel", want: [] },
  { name: "kernel boot", change: { boot: { kernel: "/k", initrd: "/i", append: "console=ttyS0" } }, option: "-kernel", want: ["/k"] },
  { name: "kernel boot: initrd", change: { boot: { kernel: "/k", initrd: "/i", append: "console=ttyS0" } }, option: "-initrd", want: ["/i"] },
  { name: "kernel boot: command line", change: { boot: { kernel: "/k", initrd: "/i", append: "console=ttyS0" } }, option: "-append", want: ["console=ttyS0"] },
  { name: "QMP socket, commas doubled", change: { qmp: { socket: "/tmp/a,b/qmp.sock" } }, option: "-qmp", want: ["unix:/tmp/a,,b/qmp.sock,server=on,wait=off"] },
  { name: "QMP over TCP", change: { qmp: { host: "127.0.0.1", port: 4444 } }, option: "-qmp", want: ["tcp:127.0.0.1:4444,server=on,wait=off"] },
  { name: "headless", change: {}, option: "-display", want: ["none"] },
  { name: "window", change: { display: "window" }, option: "-display", want: ["default"] },
  { name: "headless: the serial console on stdio", change: {}, option: "-serial", want: ["stdio"] },
  { name: "window: no serial console", change: { display: "window" }, option: "-serial", want: [] },
];

for (const c of cases) {
  test(`qemu args: ${c.name}`, () => {
    assert.deepEqual(values(qemuArgs({ ...base, ...c.change }), c.option), c.want);
  });
}

test("qemu args: the three exports as virtio disks with their serials; only the system disk boots, and only without a kernel", () => {
  const devices = (o: Partial<QemuArgsInput>): string[] => values(qemuArgs({ ...base, ...o }), "-device").filter((d) => d.startsWith("virtio-blk-pci"));
  assert.deepEqual(devices({}), [
    "virtio-blk-pci,drive=system,serial=stickvm-system,bootindex=0",
    "virtio-blk-pci,drive=user,serial=stickvm-user",
    "virtio-blk-pci,drive=local,serial=stickvm-local",
  ]);
  assert.ok(devices({ boot: { kernel: "/k", initrd: "/i", append: "" } }).every((d) => !d.includes("bootindex")));
  const blockdevs = values(qemuArgs({ ...base, nbd: { socket: "/s,1.sock" } }), "-blockdev");
  assert.deepEqual(blockdevs.map((b) => /export=(\w+)/.exec(b)?.[1]), ["system", "user", "local"]);
  assert.ok(blockdevs.every((b) => b.includes("server.type=unix,server.path=/s,,1.sock,")), blockdevs.join("\n"));
  const overTcp = values(qemuArgs({ ...base, nbd: { host: "127.0.0.1", port: 10809 } }), "-blockdev");
  assert.ok(overTcp.every((b) => b.includes("server.type=inet,server.host=127.0.0.1,server.port=10809,")), overTcp.join("\n"));
});

test("qemu args: no defaults, no user config; no USB controller for host devices unless the policy allows pass-through", () => {
  const args = qemuArgs(base);
  assert.ok(args.includes("-nodefaults") && args.includes("-no-user-config"));
  assert.ok(!values(args, "-device").some((d) => d.includes("id=passthrough")));
  assert.ok(values(qemuArgs({ ...base, ...withPolicy({ usbPassthrough: true }) }), "-device").includes("qemu-xhci,id=passthrough"));
  assert.ok(!values(qemuArgs({ ...base, display: "window" }), "-device").some((d) => d.startsWith("usb-host")));
});

test("qemu args: a host without room for the smallest guest is refused with what it has", () => {
  assert.throws(() => qemuArgs({ ...base, host: { ...base.host, freeMemoryBytes: 768 * MiB - 1 } }), { code: "HOST_TOO_SMALL", message: /767 MiB of free memory/ });
  assert.throws(() => qemuArgs({ ...base, host: { ...base.host, freeMemoryBytes: 100 * MiB } }), { code: "HOST_TOO_SMALL" });
});

test("qemu args: clipboard through QEMU's vdagent only when the policy allows it, in a window, on a build that has it", () => {
  const clipboard = (o: Partial<QemuArgsInput>): string[] => values(qemuArgs({ ...base, ...o }), "-chardev");
  const on = { ...withPolicy({ clipboard: true }), display: "window" as const };
  assert.deepEqual(clipboard(on), ["qemu-vdagent,id=vdagent,name=vdagent,clipboard=on"]);
  assert.ok(values(qemuArgs({ ...base, ...on }), "-device").includes("virtserialport,bus=vdagent-serial.0,chardev=vdagent,name=com.redhat.spice.0"));
  assert.deepEqual(clipboard({ display: "window" }), [], "policy default: off");
  assert.deepEqual(clipboard({ ...on, display: "none" }), [], "headless: no display to share a clipboard with");
  assert.deepEqual(clipboard({ ...on, capabilities: { sandbox: true, vdagent: false } }), [], "a build without qemu-vdagent");
  assert.ok(!values(qemuArgs({ ...base, display: "window" }), "-device").some((d) => d.startsWith("virtio-serial")));
});
