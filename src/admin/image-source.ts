import { mkdtemp, open, rm, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SECTOR_BYTES } from "../../stick-layout/format.js";
import { BadImageError, fileError } from "../errors/errors.js";
import { runTool } from "../util/run-tool.js";
import { extractDiskFromArchive } from "./archive.js";
import { probeFormat, type DiskFormat } from "./image-format.js";

/** A disk image read front to back by the build. */
export interface ImageSource {
  readonly size: number;
  readonly format: DiskFormat;
  /** Fills `into` from `offset`; the range lies inside the image. */
  read(offset: number, into: Buffer): Promise<void>;
  close(): Promise<void>;
}

function checkSize(path: string, size: number): void {
  if (size === 0) throw new BadImageError(`image ${path} is empty`);
  if (size % SECTOR_BYTES !== 0) {
    throw new BadImageError(`image ${path} is ${size} bytes, not a multiple of ${SECTOR_BYTES}: it is truncated or not a disk image`);
  }
}

/** Fills `into` from `position` of an input file of the build (`what`: "image", "boot kernel", …). */
export async function readFully(fh: FileHandle, into: Buffer, position: number, path: string, what = "image"): Promise<void> {
  let done = 0;
  while (done < into.length) {
    let n: number;
    try {
      n = (await fh.read(into, done, into.length - done, position + done)).bytesRead;
    } catch (err) {
      throw fileError(err, `read ${what}`, path);
    }
    if (n === 0) throw new BadImageError(`${what} ${path} ended at ${position + done} bytes while being read (did it change?)`);
    done += n;
  }
}

class RawFileSource implements ImageSource {
  readonly format = "raw";
  private constructor(
    private readonly fh: FileHandle,
    private readonly path: string,
    readonly size: number,
  ) {}

  static async open(path: string): Promise<RawFileSource> {
    let fh: FileHandle;
    try {
      fh = await open(path, "r");
    } catch (err) {
      throw fileError(err, "open image", path);
    }
    const size = (await fh.stat()).size;
    try {
      checkSize(path, size);
    } catch (err) {
      await fh.close();
      throw err;
    }
    return new RawFileSource(fh, path, size);
  }

  read(offset: number, into: Buffer): Promise<void> {
    return readFully(this.fh, into, offset, this.path);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

const QEMU_IMG = { debianPackage: "qemu-utils", purpose: "read qcow2, vmdk, vhdx and vdi images" };
/** qemu-img cannot write to a pipe, so the image is converted a window at a time into a temporary raw file. */
const WINDOW_BYTES = 64 * 1024 * 1024;

function qemuImgProblem(path: string, stderr: string): BadImageError {
  return new BadImageError(`qemu-img could not read ${path}: ${stderr.split("\n")[0] ?? "unknown error"} (is the image truncated or damaged?)`);
}

/** Images in formats QEMU knows, read through `qemu-img convert` of one window at a time. */
class QemuImgSource implements ImageSource {
  private windowStart = -1;
  private windowLength = 0;
  private windowFile: FileHandle | undefined;

  private constructor(
    private readonly path: string,
    readonly format: DiskFormat,
    readonly size: number,
    private readonly tempDir: string,
  ) {}

  static async open(path: string, format: DiskFormat): Promise<QemuImgSource> {
    // QEMU reads clusters past the end of a truncated file as zeros, so a truncated image
    // would convert "successfully"; `qemu-img check` notices. Exit 3 is leaked clusters
    // (harmless), 63 is a format without a check.
    const check = await runTool("qemu-img", ["check", "-f", format, path], QEMU_IMG);
    if (check.code !== 0 && check.code !== 3 && check.code !== 63) {
      const firstError = check.stderr.split("\n").find((l) => l.startsWith("ERROR")) ?? check.stderr;
      throw qemuImgProblem(path, firstError.length > 0 ? firstError : `qemu-img check found ${check.stdout.split("\n").find((l) => /errors? (was|were) found/.test(l)) ?? "errors"}`);
    }
    const info = await runTool("qemu-img", ["info", "--output=json", "-f", format, path], QEMU_IMG);
    if (info.code !== 0) throw qemuImgProblem(path, info.stderr);
    const size = (JSON.parse(info.stdout) as { "virtual-size"?: unknown })["virtual-size"];
    if (typeof size !== "number") throw new BadImageError(`qemu-img info gave no virtual size for ${path}`);
    checkSize(path, size);
    return new QemuImgSource(path, format, size, await mkdtemp(join(tmpdir(), "make-stick-")));
  }

  async read(offset: number, into: Buffer): Promise<void> {
    let done = 0;
    while (done < into.length) {
      const pos = offset + done;
      if (pos < this.windowStart || pos >= this.windowStart + this.windowLength) await this.loadWindow(pos - (pos % WINDOW_BYTES));
      const n = Math.min(into.length - done, this.windowStart + this.windowLength - pos);
      if (this.windowFile === undefined) throw new Error("window not loaded");
      await readFully(this.windowFile, into.subarray(done, done + n), pos - this.windowStart, this.path);
      done += n;
    }
  }

  private async loadWindow(start: number): Promise<void> {
    await this.windowFile?.close();
    this.windowFile = undefined;
    const length = Math.min(WINDOW_BYTES, this.size - start);
    const out = join(this.tempDir, "window.raw");
    await rm(out, { force: true });
    // The raw driver's offset/size options cut the window out of the decoded image.
    const opts = `driver=raw,offset=${start},size=${length},file.driver=${this.format},file.file.driver=file,file.file.filename=${this.path.replace(/,/g, ",,")}`;
    const r = await runTool("qemu-img", ["convert", "--image-opts", opts, "-O", "raw", out], QEMU_IMG);
    if (r.code !== 0) throw qemuImgProblem(this.path, r.stderr);
    this.windowFile = await open(out, "r");
    if ((await this.windowFile.stat()).size !== length) throw qemuImgProblem(this.path, "window has the wrong size");
    this.windowStart = start;
    this.windowLength = length;
  }

  async close(): Promise<void> {
    await this.windowFile?.close();
    await rm(this.tempDir, { recursive: true, force: true });
  }
}

/** A source that also removes a temporary folder (an archive's extracted image) when closed. */
function withCleanup(source: ImageSource, dir: string): ImageSource {
  return {
    size: source.size,
    format: source.format,
    read: (offset, into) => source.read(offset, into),
    close: async () => {
      await source.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Opens an image file, an archive holding one (.7z, .zip, .ova), or a format read through qemu-img. */
export async function openImage(path: string, format?: DiskFormat): Promise<ImageSource> {
  const probed = await probeFormat(path);
  if (probed === "7z" || probed === "zip" || probed === "tar") {
    const { dir, file } = await extractDiskFromArchive(path);
    try {
      return withCleanup(await openImage(file, format), dir);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }
  const chosen = format ?? probed;
  return chosen === "raw" ? RawFileSource.open(path) : QemuImgSource.open(path, chosen);
}
