// A guest's random I/O on a block device, as NBD brings it: writes of 512 B to 1 MiB at random
// sectors, some with FUA, trims, zero writes (some with FUA), flushes, batches of requests in
// flight at once, and the device closed and opened again now and then. The model notes what each
// request wrote and what each acknowledged.
import { NoSpaceError } from "../../src/errors/errors.js";
import type { BlockDevice } from "../../src/layers/block-device.js";
import { SECTOR } from "./mem-files.js";
import { sectorsOf, ZERO_VALUE, type SectorModel } from "./sector-model.js";

const MAX_WRITE_SECTORS = 2048; // 1 MiB

export interface DeviceRun {
  model: SectorModel;
  /** Recorded file operations so far. */
  opsDone: () => number;
  open: () => Promise<BlockDevice>;
  next: (n: number) => number;
}

/** 1 to 2048 sectors, small ones as likely as large ones on a log scale (what guests send). */
function writeSectors(next: (n: number) => number, room: number): number {
  return Math.min(room, Math.floor(2 ** ((next(1 << 16) / (1 << 16)) * Math.log2(MAX_WRITE_SECTORS))));
}

/** One write, trim or zero write of the model's kind; a full device fails it without acknowledging it. */
async function change(dev: BlockDevice, r: DeviceRun, first: number, count: number, kind: "write" | "trim" | "zero", fua: boolean): Promise<void> {
  const value = kind === "write" ? r.model.nextValue() : ZERO_VALUE;
  let ok = true;
  try {
    if (kind === "write") await dev.write(first * SECTOR, sectorsOf(value, first, count), { fua });
    else if (kind === "trim") await dev.trim(first * SECTOR, count * SECTOR);
    else await dev.writeZeroes(first * SECTOR, count * SECTOR, { fua });
  } catch (err) {
    if (!(err instanceof NoSpaceError)) throw err;
    ok = false;
  }
  r.model.wrote(first, count, value, { fua, ok, end: r.opsDone() });
}

/** Runs `steps` requests on the device (opened first), then closes it. */
export async function driveDevice(r: DeviceRun, steps: number): Promise<void> {
  const sectors = r.model.sectors;
  let dev = await r.open();
  for (let step = 0; step < steps; step++) {
    const roll = r.next(100);
    const count = writeSectors(r.next, sectors);
    const first = r.next(sectors - count + 1);
    if (roll < 55) {
      await change(dev, r, first, count, "write", r.next(8) === 0);
    } else if (roll < 63) {
      await change(dev, r, first, count, "trim", false);
    } else if (roll < 70) {
      await change(dev, r, first, count, "zero", r.next(4) === 0);
    } else if (roll < 85) {
      await dev.flush();
      r.model.flushed(r.opsDone());
    } else if (roll < 96) {
      await inFlight(dev, r);
    } else {
      await dev.close();
      r.model.flushed(r.opsDone());
      dev = await r.open();
    }
  }
  await dev.close();
  r.model.flushed(r.opsDone());
}

/**
 * Two to four writes to separate ranges and a flush, all in flight at once: the flush covers only
 * the writes that resolved before it was called, so none of these.
 */
async function inFlight(dev: BlockDevice, r: DeviceRun): Promise<void> {
  const parts = 2 + r.next(3);
  const span = Math.floor(r.model.sectors / parts);
  const covers = r.model.eventCount;
  const requests: Promise<void>[] = [];
  for (let k = 0; k < parts; k++) {
    const count = writeSectors(r.next, span);
    const first = k * span + r.next(span - count + 1);
    requests.push(change(dev, r, first, count, "write", r.next(4) === 0));
  }
  requests.push(
    dev.flush().then(() => {
      r.model.flushed(r.opsDone(), covers);
    }),
  );
  await Promise.all(requests);
}
