import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import Seven from "node-7z";
import { BadImageError } from "../errors/errors.js";
import { sevenZipBinary } from "./seven-zip.js";

const DISK_EXTENSIONS = [".raw", ".img", ".qcow2", ".vmdk", ".vhdx", ".vdi", ".bin", ".dd"];

function waitFor(stream: NodeJS.EventEmitter, collect: (item: Seven.Data) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.on("data", collect);
    stream.on("end", () => {
      resolve();
    });
    stream.on("error", reject);
  });
}

/**
 * Finds the disk image in a .7z, .zip or .ova (tar) archive, the largest file with a disk
 * image extension, and extracts it into a temporary folder that the caller removes.
 */
export async function extractDiskFromArchive(archive: string): Promise<{ dir: string; file: string }> {
  const $bin = await sevenZipBinary();
  const entries: { file: string; size: number }[] = [];
  try {
    await waitFor(Seven.list(archive, { $bin }), (d) => {
      const isDir = d.attributes?.startsWith("D") ?? false;
      if (!isDir) entries.push({ file: d.file, size: d.size ?? 0 });
    });
  } catch (err) {
    throw new BadImageError(`could not list archive ${archive}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const disks = entries.filter((e) => DISK_EXTENSIONS.some((x) => e.file.toLowerCase().endsWith(x)));
  const disk = disks.sort((a, b) => b.size - a.size)[0];
  if (disk === undefined) {
    throw new BadImageError(`archive ${archive} holds no disk image (looked for ${DISK_EXTENSIONS.join(", ")})`);
  }
  const dir = await mkdtemp(join(tmpdir(), "make-stick-archive-"));
  try {
    await waitFor(Seven.extract(archive, dir, { $bin, $cherryPick: [disk.file] }), () => undefined);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new BadImageError(`could not extract ${disk.file} from ${archive}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { dir, file: join(dir, basename(disk.file)) };
}
