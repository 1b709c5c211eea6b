import type { HostReport, StickFileSystem } from "./detect-host.js";

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}

/** `stickvm host` for a person: each fact, and what stickvm will do about it. */
export function formatHost(h: HostReport): string {
  const s = h.system;
  const lines = [
    `host         ${s.name} (${s.platform} ${s.release}), ${s.arch}, ${s.cpus} CPU${s.cpus === 1 ? "" : "s"}`,
    `memory       ${gib(s.totalMemoryBytes)} total, ${gib(s.freeMemoryBytes)} free`,
    `cache        ${h.cache.path}: ${h.cache.freeBytes === null ? "free space unknown (no folder on its way exists)" : `${gib(h.cache.freeBytes)} free`}`,
    `accelerator  ${accelerator(h)}`,
    `display      ${h.display.available ? `yes (${h.display.how})` : `none: ${h.display.how}; the desktop's window cannot open here`}`,
    `stick        ${h.stick.path}`,
    `             ${h.stick.fileSystem === null ? "its file system is not detected on this OS" : fileSystem(h.stick.fileSystem)}`,
    `host id      ${h.hostId.id ?? "none"} (${h.hostId.basis})`,
  ];
  return `${lines.join("\n")}\n`;
}

const SHOWN = { kvm: "KVM", hvf: "HVF", whpx: "WHPX" } as const;

function accelerator(h: HostReport): string {
  const a = h.accelerator;
  if (a.name === null) return `none: ${a.reason}; software emulation (TCG), expect a slower guest`;
  switch (a.status) {
    case "usable":
      return `${SHOWN[a.name]}: ${a.reason}; the guest runs on the CPU directly`;
    case "unconfirmed":
      return `${SHOWN[a.name]} if the player can start with it: ${a.reason}; otherwise software emulation (TCG), expect a slower guest`;
    case "unusable":
      return `no ${SHOWN[a.name]} for this user: ${a.reason}; software emulation (TCG), expect a slower guest`;
  }
}

function fileSystem(f: StickFileSystem): string {
  const notes: string[] = [];
  if (f.family === "fat") notes.push("FAT: every file must stay under 4 GiB (the packs do)");
  if (f.family === "fuse") notes.push("a FUSE mount (ntfs-3g or exfat-fuse): slower than a kernel driver");
  if (f.readOnly) notes.push("read-only: stickvm writes its lock and the user disk on the stick, so it cannot run from this mount; remount it read-write");
  if (f.noexec) notes.push("noexec: nothing on the stick can run directly, so Linux starts through `sh run.sh` (DESIGN section 5)");
  else if (f.showexec) notes.push("showexec: only .exe/.com/.bat files are executable here, so Linux starts through `sh run.sh`");
  const head = `${f.fsType} on ${f.mountPoint} (from ${f.source})`;
  return notes.length === 0 ? head : `${head}\n${notes.map((n) => `             ${n}`).join("\n")}`;
}
