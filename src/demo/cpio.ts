export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFCHR = 0o020000;
const S_IFMT = 0o170000;

export interface CpioEntry {
  name: string;
  /** File type and permission bits, e.g. S_IFREG | 0o755. */
  mode: number;
  /** The file's bytes. */
  data: Buffer;
  /** A device node's major and minor numbers. */
  rdev?: readonly [number, number];
}

/** A cpio archive in the "newc" format the kernel unpacks as an initramfs; owner root, mtime 0. */
export function newc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);
  const record = (ino: number, e: CpioEntry): void => {
    const name = Buffer.from(e.name + "\0");
    const links = (e.mode & S_IFMT) === S_IFDIR ? 2 : 1;
    const fields = [ino, e.mode, 0, 0, links, 0, e.data.length, 0, 0, e.rdev?.[0] ?? 0, e.rdev?.[1] ?? 0, name.length, 0];
    const header = Buffer.from("070701" + fields.map((f) => f.toString(16).padStart(8, "0")).join(""));
    parts.push(header, name, pad4(header.length + name.length), e.data, pad4(e.data.length));
  };
  entries.forEach((e, i) => { record(i + 1, e); });
  record(0, { name: "TRAILER!!!", mode: 0, data: Buffer.alloc(0) });
  return Buffer.concat(parts);
}
