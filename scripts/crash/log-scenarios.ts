// The user log and the persistent system-changes log: the same code (src/layers/log/), each with
// its own key and folder. The user log sits over zeros with the default room; the system changes
// sit over the base (here a pattern) in a log smaller than its disk, so it fills up and compacts.
import { NoSpaceError } from "../../src/errors/errors.js";
import { createLogDevice, openLogDevice } from "../../src/layers/log/log.js";
import type { BlockDevice, Extent } from "../../src/layers/block-device.js";
import { ReadOnlyDevice } from "../../src/layers/read-only-device.js";
import { ZeroDevice } from "../../src/layers/zero-device.js";
import { driveDevice } from "./device-workload.js";
import { MemFiles, SECTOR } from "./mem-files.js";
import { prng } from "./prng.js";
import type { CrashScenario, RecordedRun } from "./scenario.js";
import { LOWER_VALUE, SectorModel, sectorsOf, ZERO_VALUE } from "./sector-model.js";

const DISK_BYTES = 2 * 1024 * 1024;
const SEGMENT_BYTES = 256 * 1024;
const STEPS = 120;

/** A read-only disk whose every sector holds LOWER_VALUE's pattern: the base under the system changes. */
class PatternDevice extends ReadOnlyDevice {
  protected readonly what = "the pattern device";

  constructor(readonly size: number) {
    super();
  }

  read(offset: number, length: number): Promise<Buffer> {
    const first = Math.floor(offset / SECTOR);
    const count = Math.ceil((offset + length) / SECTOR) - first;
    const start = offset - first * SECTOR;
    return Promise.resolve(sectorsOf(LOWER_VALUE, first, count).subarray(start, start + length));
  }

  blockStatus(_offset: number, length: number): Promise<Extent[]> {
    return Promise.resolve([{ length, hole: false, zero: false }]);
  }
}

interface LogSetup {
  name: string;
  weight: number;
  dir: string;
  key: Buffer;
  lower: () => BlockDevice;
  initial: number;
  /** Segments of the log; undefined for the default (room for the whole disk). */
  segmentCount: number | undefined;
}

function logScenario(s: LogSetup): CrashScenario {
  return {
    name: s.name,
    weight: s.weight,
    async record(seed: number): Promise<RecordedRun> {
      const files = new MemFiles();
      const created = await createLogDevice({
        dir: s.dir,
        key: s.key,
        size: DISK_BYTES,
        segmentBytes: SEGMENT_BYTES,
        lower: s.lower(),
        files,
        ...(s.segmentCount === undefined ? {} : { segmentCount: s.segmentCount }),
      });
      await created.close();
      const base = files.snapshot();
      files.recording = true;
      const model = new SectorModel(DISK_BYTES / SECTOR, s.initial);
      const next = prng(seed);
      const open = (on: MemFiles): Promise<BlockDevice> => openLogDevice({ dir: s.dir, key: s.key, lower: s.lower(), files: on });
      await driveDevice({ model, next, opsDone: () => files.ops.length, open: () => open(files) }, STEPS);
      files.recording = false;
      const check = async (state: MemFiles, prefix: number, goOn: boolean): Promise<string | undefined> => {
        const problem = await checkLog(() => open(state), model, prefix);
        if (problem !== undefined || !goOn) return problem;
        return goOnFrom(() => open(state), model, prefix, next);
      };
      return { base, ops: files.ops, check };
    },
  };
}

async function checkLog(open: () => Promise<BlockDevice>, model: SectorModel, prefix: number): Promise<string | undefined> {
  let dev: BlockDevice;
  try {
    dev = await open();
  } catch (err) {
    return `opening failed: ${(err as Error).message}`;
  }
  try {
    return model.check(await dev.read(0, dev.size), prefix);
  } catch (err) {
    return `reading failed: ${(err as Error).message}`;
  } finally {
    await dev.close();
  }
}

/** After a crash, a FUA write, then a reopening: the write must be there, and the rest as the crash left it. */
async function goOnFrom(open: () => Promise<BlockDevice>, model: SectorModel, prefix: number, next: (n: number) => number): Promise<string | undefined> {
  const sectors = 1 + next(64);
  const first = next(model.sectors - sectors + 1);
  const marker = sectorsOf(LOWER_VALUE - 1, first, sectors);
  try {
    const dev = await open();
    await dev.write(first * SECTOR, marker, { fua: true });
    await dev.close();
    const again = await open();
    const disk = await again.read(0, again.size);
    await again.close();
    if (!disk.subarray(first * SECTOR, (first + sectors) * SECTOR).equals(marker)) return `a FUA write after the crash is lost after reopening`;
    return model.check(disk, prefix, { first, count: sectors });
  } catch (err) {
    // a log full when the crash came is full after it too: refusing the write is its promise
    if (err instanceof NoSpaceError) return undefined;
    return `writing after the crash failed: ${(err as Error).message}`;
  }
}

export const userLogScenario = logScenario({
  name: "user log",
  weight: 4,
  dir: "/stick/user",
  key: Buffer.alloc(32, 0x75),
  lower: () => new ZeroDevice(DISK_BYTES),
  initial: ZERO_VALUE,
  segmentCount: undefined,
});

export const systemChangesScenario = logScenario({
  name: "system-changes log",
  weight: 3,
  dir: "/stick/system-changes-00000001",
  key: Buffer.alloc(32, 0x73),
  lower: () => new PatternDevice(DISK_BYTES),
  initial: LOWER_VALUE,
  // 2.75 MiB (11 segments, three of them kept free) for a 2 MiB disk: writes fill it now and then, trims make room again
  segmentCount: 11,
});
