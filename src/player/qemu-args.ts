import { HostTooSmallError } from "../errors/errors.js";
import type { QemuAccelerator } from "../host/accelerator.js";
import type { PlayerPolicy } from "../policy/player-policy.js";
import type { PlayerCapabilities } from "./player-capabilities.js";

const MiB = 1024 * 1024;
/** Left free for the host (the launcher, its caches, the desktop) when the guest's RAM is capped. */
export const HOST_RESERVE_BYTES = 512 * MiB;
/** Below this the guest is not started: a desktop cannot boot in less. */
export const MIN_GUEST_BYTES = 256 * MiB;

/** The virtio serials the guest finds its disks by (DESIGN section 4). */
export const DISK_SERIALS = { system: "stickvm-system", user: "stickvm-user", local: "stickvm-local" } as const;
export type DiskName = keyof typeof DISK_SERIALS;

/** Direct kernel boot: the files the stick's manifest names, on the host (or the stick) by path. */
export interface BootFiles {
  kernel: string;
  initrd: string;
  append: string;
}

/** Where QEMU reaches a server of the launcher's: a Unix socket, or TCP on the loopback (Windows, whose Node has no Unix sockets). */
export type Endpoint = { socket: string } | { host: string; port: number };

export interface QemuArgsInput {
  host: { cpus: number; freeMemoryBytes: number; accelerators: QemuAccelerator[] };
  policy: PlayerPolicy;
  /** Where the NBD server listens; the exports are named after DISK_SERIALS' keys. */
  nbd: Endpoint;
  /** Where QEMU's QMP server is to listen. */
  qmp: Endpoint;
  /** What this player's build supports (player-capabilities.ts). */
  capabilities: PlayerCapabilities;
  /** Absent: boot from the system disk. */
  boot?: BootFiles;
  /** "none" runs headless with the guest's first serial port on QEMU's stdin and stdout; "window" opens QEMU's default display. */
  display: "none" | "window";
}

/** A comma inside a QEMU option value is written as two. */
function q(value: string): string {
  return value.replaceAll(",", ",,");
}

/** The guest's RAM in MiB: the policy's, capped to the host's free memory less HOST_RESERVE_BYTES. */
export function guestMemoryMiB(policyBytes: number, freeBytes: number): number {
  const cap = Math.floor((freeBytes - HOST_RESERVE_BYTES) / MiB);
  const mib = Math.min(Math.floor(policyBytes / MiB), cap);
  if (mib * MiB < MIN_GUEST_BYTES) {
    throw new HostTooSmallError(
      `this host has ${Math.floor(freeBytes / MiB)} MiB of free memory; the guest needs at least ${MIN_GUEST_BYTES / MiB} MiB beyond the ${HOST_RESERVE_BYTES / MiB} MiB left to the host (close programs and start again)`,
    );
  }
  return mib;
}

/** The QEMU argv (without the program, firmware paths and environment: start-player.ts adds those) for one session. */
export function qemuArgs(o: QemuArgsInput): string[] {
  const args = ["-name", "stickvm", "-nodefaults", "-no-user-config", "-machine", "q35"];
  // QEMU tries each -accel in order and takes the first that initialises; TCG is last and always does
  for (const accel of o.host.accelerators) args.push("-accel", accel);
  args.push("-m", String(guestMemoryMiB(o.policy.memoryBytes, o.host.freeMemoryBytes)));
  args.push("-smp", String(Math.max(1, Math.min(o.policy.cpus, o.host.cpus))));
  if (o.capabilities.sandbox) args.push("-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
  const server = "socket" in o.nbd ? `server.type=unix,server.path=${q(o.nbd.socket)}` : `server.type=inet,server.host=${o.nbd.host},server.port=${String(o.nbd.port)}`;
  for (const name of Object.keys(DISK_SERIALS) as DiskName[]) {
    args.push(
      "-blockdev", `driver=nbd,node-name=${name},${server},export=${name},cache.direct=on,discard=unmap`,
      "-device", `virtio-blk-pci,drive=${name},serial=${DISK_SERIALS[name]}${name === "system" && o.boot === undefined ? ",bootindex=0" : ""}`,
    );
  }
  if (o.boot !== undefined) args.push("-kernel", o.boot.kernel, "-initrd", o.boot.initrd, "-append", o.boot.append);
  args.push(...networkArgs(o.policy.network));
  // a controller that host USB devices are attached to through QMP while the guest runs; without leave, none
  if (o.policy.usbPassthrough) args.push("-device", "qemu-xhci,id=passthrough");
  if (o.display === "window") args.push("-device", "virtio-vga", "-device", "qemu-xhci,id=input", "-device", "usb-tablet,bus=input.0", "-display", "default");
  else args.push("-display", "none", "-serial", "stdio");
  // the guest's spice-vdagent talks to QEMU's clipboard through this port; the display is the other end, so headless there is none
  if (o.policy.clipboard && o.display === "window" && o.capabilities.vdagent) {
    args.push(
      "-chardev", "qemu-vdagent,id=vdagent,name=vdagent,clipboard=on",
      "-device", "virtio-serial-pci,id=vdagent-serial",
      "-device", "virtserialport,bus=vdagent-serial.0,chardev=vdagent,name=com.redhat.spice.0",
    );
  }
  args.push("-qmp", `${"socket" in o.qmp ? `unix:${q(o.qmp.socket)}` : `tcp:${o.qmp.host}:${String(o.qmp.port)}`},server=on,wait=off`);
  return args;
}

/** The guest's network device and its back end, as the policy's `network` says. */
function networkArgs(network: PlayerPolicy["network"]): string[] {
  switch (network) {
    case "off":
      return ["-nic", "none"];
    case "user-mode":
      // romfile= (empty): no PXE option ROM, which the guest does not boot from and the bundle does not carry
      return ["-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0,romfile="];
  }
}
