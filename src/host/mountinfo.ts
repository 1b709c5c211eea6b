// The file system that holds the stick, from Linux's /proc/self/mountinfo (proc(5)).

export interface MountEntry {
  mountPoint: string;
  /** As the kernel names it: vfat, exfat, ntfs3, fuseblk, fuse.<subtype>, ext4, … */
  fsType: string;
  source: string;
  /** Per-mount options (noexec, ro, …) followed by the file system's own (showexec, uid=…), each once. */
  options: string[];
}

/** The kernel writes space, tab, newline and backslash in paths as \040, \011, \012, \134. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * One entry per well-formed line, in file order. A line is
 * `id parent major:minor root mountPoint mountOptions [optional fields…] - fsType source superOptions`.
 */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const dash = fields.indexOf("-", 6);
    const mountPoint = fields[4];
    const mountOptions = fields[5];
    const fsType = fields[dash + 1];
    const source = fields[dash + 2];
    if (dash < 0 || mountPoint === undefined || mountOptions === undefined || fsType === undefined || source === undefined) continue;
    const superOptions = fields[dash + 3] ?? "";
    entries.push({
      mountPoint: unescape(mountPoint),
      fsType,
      source: unescape(source),
      options: [...new Set([...mountOptions.split(","), ...superOptions.split(",")])].filter((o) => o !== ""),
    });
  }
  return entries;
}

function contains(mountPoint: string, path: string): boolean {
  return mountPoint === "/" || path === mountPoint || path.startsWith(`${mountPoint}/`);
}

/** The mount that holds an absolute, symlink-free path: the deepest one, and of equals the last (it hides the others). */
export function mountFor(entries: MountEntry[], path: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const e of entries) {
    if (contains(e.mountPoint, path) && (best === undefined || e.mountPoint.length >= best.mountPoint.length)) best = e;
  }
  return best;
}

/** What stickvm must plan around; "fuse" is a FUSE block mount that does not name its driver (ntfs-3g or exfat-fuse). */
export type StickFamily = "fat" | "exfat" | "ntfs" | "fuse" | "other";

export function fsFamily(fsType: string): StickFamily {
  const driver = fsType.startsWith("fuse.") ? fsType.slice("fuse.".length) : fsType;
  if (["vfat", "msdos", "fat", "fusefat"].includes(driver)) return "fat";
  if (["exfat", "exfat-fuse"].includes(driver)) return "exfat";
  if (["ntfs", "ntfs3", "ntfs-3g"].includes(driver)) return "ntfs";
  if (driver === "fuseblk") return "fuse";
  return "other";
}
