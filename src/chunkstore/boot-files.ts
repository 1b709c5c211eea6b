import { open, rm } from "node:fs/promises";
import { join } from "node:path";
import { bootFileManifest, type BootFileName, type BootManifest } from "../../stick-layout/boot-manifest.js";
import { fileError } from "../errors/errors.js";
import type { BootFiles } from "../player/qemu-args.js";
import { BaseImage, type ReadChunk } from "./base-image.js";
import type { OpenStick } from "./open-stick.js";

/** Chunks decoded at once while a boot file is written out: the reader pool works on them together. */
const WINDOW_CHUNKS = 16;

/** A stick's boot files (format version 3): each read like a disk of its exact length. */
export interface StickBoot {
  /** The kernel command line. */
  append: string;
  kernelSize: number;
  initrdSize: number;
  kernel: BaseImage;
  initrd: BaseImage;
}

export function stickBoot(m: BootManifest, readChunk: ReadChunk): StickBoot {
  return {
    append: m.append,
    kernelSize: m.kernel.size,
    initrdSize: m.initrd.size,
    kernel: new BaseImage(bootFileManifest(m, "kernel"), readChunk),
    initrd: new BaseImage(bootFileManifest(m, "initrd"), readChunk),
  };
}

/**
 * Decodes the stick's kernel and initrd into new files `dir/kernel` and `dir/initrd` (mode 0600)
 * for QEMU's -kernel and -initrd; undefined for a stick that boots from its disk. The files are
 * plaintext: `dir` should be a RAM-backed folder the session removes. A chunk that fails
 * (CHUNK_INVALID, CHUNK_MISSING, CORRUPT_STICK) fails the call, and the files are removed.
 */
export async function writeBootFiles(stick: Pick<OpenStick, "boot">, dir: string): Promise<BootFiles | undefined> {
  const boot = stick.boot;
  if (boot === undefined) return undefined;
  const paths: Record<BootFileName, string> = { kernel: join(dir, "kernel"), initrd: join(dir, "initrd") };
  try {
    await writeImageFile(boot.kernel, paths.kernel);
    await writeImageFile(boot.initrd, paths.initrd);
  } catch (err) {
    await Promise.all(Object.values(paths).map((p) => rm(p, { force: true })));
    throw err;
  }
  return { ...paths, append: boot.append };
}

async function writeImageFile(image: BaseImage, path: string): Promise<void> {
  let fh;
  try {
    fh = await open(path, "wx", 0o600);
  } catch (err) {
    throw fileError(err, "create", path);
  }
  try {
    const window = image.manifest.chunkSize * WINDOW_CHUNKS;
    for (let at = 0; at < image.size; at += window) {
      const bytes = await image.read(at, Math.min(window, image.size - at));
      for (let done = 0; done < bytes.length; ) done += (await fh.write(bytes, done, bytes.length - done, at + done)).bytesWritten;
    }
  } catch (err) {
    throw fileError(err, "write", path); // a chunk's own error passes through as it is
  } finally {
    await fh.close();
  }
}
