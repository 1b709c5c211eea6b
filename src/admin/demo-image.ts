import { open, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";

const MiB = 1024 * 1024;
const DEMO_IMAGE_BYTES = 96 * MiB;
const DEMO_SOURCE = "/usr/share";
const DEMO_FILL_BYTES = 48 * MiB;
const DEMO_REPEAT_BYTES = 8 * MiB;

/**
 * The demo disk: real files (real disks compress and dedupe, random bytes do not) from
 * /usr/share laid end to end, their first 8 MiB once more (as a second copy of a file
 * would be), and zeros up to 96 MiB, like the free space of a fresh disk.
 */
export async function makeDemoImage(path: string): Promise<string> {
  const files = await collectFiles(DEMO_SOURCE, DEMO_FILL_BYTES);
  const fh = await open(path, "wx+");
  try {
    let at = 0;
    for (const f of files) {
      const data = await readFile(f).catch(() => Buffer.alloc(0));
      at += (await fh.write(data, 0, data.length, at)).bytesWritten;
    }
    const head = Buffer.alloc(Math.min(DEMO_REPEAT_BYTES, at));
    await fh.read(head, 0, head.length, 0);
    // on a MiB boundary, so the copy falls on chunk boundaries as a file's blocks would
    await fh.write(head, 0, head.length, Math.ceil(at / MiB) * MiB);
    await fh.truncate(DEMO_IMAGE_BYTES);
  } finally {
    await fh.close();
  }
  return `${files.length} files from ${DEMO_SOURCE}, a repeated 8 MiB and zeros: ${DEMO_IMAGE_BYTES / MiB} MiB`;
}

async function collectFiles(dir: string, budget: number): Promise<string[]> {
  const out: string[] = [];
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      if (total >= budget) return;
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        const size = (await stat(p)).size;
        if (total + size <= budget) {
          out.push(p);
          total += size;
        }
      }
    }
  };
  await walk(dir);
  return out;
}
