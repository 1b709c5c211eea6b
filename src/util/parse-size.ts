import { UsageError } from "../errors/errors.js";

const UNITS: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** "64K", "4G", "512", "2MiB" → bytes (binary units). */
export function parseSize(text: string, what: string): number {
  const m = /^(\d+)\s*([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  const unit = UNITS[(m?.[2] ?? "").toUpperCase()];
  if (m?.[1] === undefined || unit === undefined) throw new UsageError(`${what} "${text}" is not a size (examples: 64K, 4G)`);
  const n = Number(m[1]) * unit;
  if (!Number.isSafeInteger(n)) throw new UsageError(`${what} "${text}" is too large`);
  return n;
}
