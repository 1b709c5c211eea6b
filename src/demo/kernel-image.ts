import { runSync } from "./run-sync.js";

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

/**
 * Debian's bzImage wraps an xz-compressed ELF vmlinux, which QEMU boots directly (PVH): that
 * skips decompressing the kernel, which takes seconds under TCG. Other kernels stay as they are.
 */
export function uncompressedKernel(bzImage: Buffer): Buffer {
  const at = bzImage.indexOf(XZ_MAGIC);
  if (at < 0) return bzImage;
  const elf = runSync("xz", ["-dc", "--single-stream"], bzImage.subarray(at));
  return elf.subarray(0, 4).equals(ELF_MAGIC) ? elf : bzImage;
}
