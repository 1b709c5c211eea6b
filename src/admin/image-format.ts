import { open } from "node:fs/promises";
import { BadImageError, fileError } from "../errors/errors.js";

export const DISK_FORMATS = ["raw", "qcow2", "vmdk", "vhdx", "vdi"] as const;
export type DiskFormat = (typeof DISK_FORMATS)[number];
export type ArchiveFormat = "7z" | "zip" | "tar";

const PROBE_BYTES = 512;

/** Recognises a disk or archive format by its magic bytes; anything else is raw. */
export function formatFromMagic(head: Buffer): DiskFormat | ArchiveFormat {
  const at = (offset: number, text: string): boolean => head.subarray(offset, offset + text.length).toString("latin1") === text;
  if (at(0, "QFI\xfb")) return "qcow2";
  if (at(0, "KDMV") || at(0, "# Disk DescriptorFile")) return "vmdk";
  if (at(0, "vhdxfile")) return "vhdx";
  if (head.length >= 0x44 && head.readUInt32LE(0x40) === 0xbeda107f) return "vdi";
  if (at(0, "7z\xbc\xaf\x27\x1c")) return "7z";
  if (at(0, "PK\x03\x04")) return "zip";
  if (at(257, "ustar")) return "tar";
  return "raw";
}

export async function probeFormat(path: string): Promise<DiskFormat | ArchiveFormat> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new BadImageError(`image ${path} does not exist`);
    if (code === "EISDIR") throw new BadImageError(`image ${path} is a folder, not a disk image`);
    throw fileError(err, "open image", path);
  }
  try {
    const head = Buffer.alloc(PROBE_BYTES);
    const { bytesRead } = await fh.read(head, 0, PROBE_BYTES, 0);
    return formatFromMagic(head.subarray(0, bytesRead));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EISDIR") throw new BadImageError(`image ${path} is a folder, not a disk image`);
    throw fileError(err, "read image", path);
  } finally {
    await fh.close();
  }
}
