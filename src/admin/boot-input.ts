import { open, type FileHandle } from "node:fs/promises";
import { bootAppendProblem, bootFileSizeProblem, type BootFileName } from "../../stick-layout/boot-manifest.js";
import { BadImageError, fileError, UsageError } from "../errors/errors.js";
import { readFully } from "./image-source.js";
import type { ChunkSource } from "./write-chunks.js";

/** Files for direct kernel boot (`--boot-kernel`, `--boot-initrd`, `--boot-append`), FORMAT.md §23. */
export interface BootOptions {
  kernel: string;
  initrd: string;
  /** The kernel command line ("" for none). */
  append: string;
}

/** The CLI's three options as BootOptions: a kernel needs its initrd and the reverse; a command line needs both. */
export function bootOptionsFrom(o: { kernel?: string | undefined; initrd?: string | undefined; append?: string | undefined }): BootOptions | undefined {
  if (o.kernel === undefined && o.initrd === undefined) {
    if (o.append !== undefined) throw new UsageError("--boot-append was given without --boot-kernel and --boot-initrd: a command line is for a kernel the stick carries");
    return undefined;
  }
  if (o.kernel === undefined || o.initrd === undefined) {
    throw new UsageError(`--boot-${o.kernel === undefined ? "initrd" : "kernel"} was given without --boot-${o.kernel === undefined ? "kernel" : "initrd"}: direct kernel boot needs both`);
  }
  return { kernel: o.kernel, initrd: o.initrd, append: o.append ?? "" };
}

/** Why the command line cannot go on a stick, or undefined (checked with the other options, before anything is read). */
export function bootOptionsProblem(boot: BootOptions): string | undefined {
  return bootAppendProblem(Buffer.from(boot.append, "utf8"));
}

/** A boot file opened for the build: read like an image, but of any length. */
export interface BootFileSource extends ChunkSource {
  close(): Promise<void>;
}

async function openBootFile(path: string, file: BootFileName): Promise<BootFileSource> {
  const what = `boot ${file}`;
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new BadImageError(`${what} ${path} does not exist`);
    throw fileError(err, `open ${what}`, path);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new BadImageError(`${what} ${path} is not a file`);
    const problem = bootFileSizeProblem(st.size);
    if (problem !== undefined) throw new BadImageError(`${what} ${path} ${problem}`);
    return { size: st.size, read: (offset, into) => readFully(fh, into, offset, path, what), close: () => fh.close() };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** Opens the kernel and the initrd, so that a missing, empty or unreadable one fails the build before anything is written. */
export async function openBootFiles(boot: BootOptions): Promise<Record<BootFileName, BootFileSource>> {
  const kernel = await openBootFile(boot.kernel, "kernel");
  try {
    return { kernel, initrd: await openBootFile(boot.initrd, "initrd") };
  } catch (err) {
    await kernel.close();
    throw err;
  }
}
