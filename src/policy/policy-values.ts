import { isAbsolute } from "node:path";
import { CorruptStickError, UsageError } from "../errors/errors.js";
import { parseSize } from "../util/parse-size.js";

// The value checks the policy schema (policy-schema.ts) is made of. A bad value is a damaged
// stick (make-stick checked the policy; build turns the error into USAGE), named by its key.

/** Checks one key's value and gives it in the form the launcher uses. */
export type ValueCheck<T> = (value: unknown, key: string) => T;

function bad(key: string, allowed: string, value: unknown): CorruptStickError {
  return new CorruptStickError(`policy.json: ${key} must be ${allowed}, not ${JSON.stringify(value)}`);
}

export function oneOf<T extends string>(allowed: readonly T[]): ValueCheck<T> {
  return (value, key) => {
    if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
    throw bad(key, allowed.map((a) => JSON.stringify(a)).join(" or "), value);
  };
}

/** Bytes, or a size such as "4G", at least `min`. */
export function size(min: number): ValueCheck<number> {
  return (value, key) => {
    let bytes: number | undefined;
    if (typeof value === "number") bytes = value;
    else if (typeof value === "string") {
      try {
        bytes = parseSize(value, key);
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
      }
    }
    if (bytes !== undefined && Number.isSafeInteger(bytes) && bytes >= min) return bytes;
    throw bad(key, `a size such as "4G" (or bytes)${min === 0 ? "" : `, ${min === 1 ? "above 0" : `at least ${min}`}`}`, value);
  };
}

export const flag: ValueCheck<boolean> = (value, key) => {
  if (typeof value === "boolean") return value;
  throw bad(key, "true or false", value);
};

/** A whole number from `min` to `max`. */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER): ValueCheck<number> {
  return (value, key) => {
    if (typeof value === "number" && Number.isSafeInteger(value) && value >= min && value <= max) return value;
    throw bad(key, `a whole number ${max === Number.MAX_SAFE_INTEGER ? `from ${min}` : `from ${min} to ${max}`}`, value);
  };
}

/** A number above `above` and at most `max`. */
export function number(above: number, max = Number.MAX_VALUE): ValueCheck<number> {
  return (value, key) => {
    if (typeof value === "number" && Number.isFinite(value) && value > above && value <= max) return value;
    throw bad(key, `a number above ${above}${max === Number.MAX_VALUE ? "" : ` and at most ${max}`}`, value);
  };
}

export const text: ValueCheck<string> = (value, key) => {
  if (typeof value === "string") return value;
  throw bad(key, "text", value);
};

export const absoluteFolder: ValueCheck<string> = (value, key) => {
  if (typeof value === "string" && isAbsolute(value)) return value;
  throw bad(key, "an absolute folder", value);
};

export const httpUrl: ValueCheck<string> = (value, key) => {
  if (typeof value === "string" && URL.canParse(value)) {
    const url = new URL(value);
    if ((url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "") return value;
  }
  throw bad(key, "an http:// or https:// URL", value);
};

// ISO 8601 (RFC 3339's profile): a date alone, or a date and time with Z or an offset; a time
// without either would mean a different instant on each host's time zone
const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** An ISO 8601 date ("2027-06-30", midnight UTC at its start) or date and time with Z or an offset, as ms since 1970. */
export const isoInstant: ValueCheck<number> = (value, key) => {
  const m = typeof value === "string" ? ISO_INSTANT.exec(value) : null;
  if (m !== null) {
    const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) as [number, number, number, number, number, number];
    const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
    const ms = Date.parse(m[4] === undefined ? `${m[0]}T00:00:00Z` : m[0]);
    if (month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour <= 23 && minute <= 59 && second <= 59 && Number.isFinite(ms)) return ms;
  }
  throw bad(key, `an ISO 8601 date such as "2027-06-30" or date and time with a zone such as "2027-06-30T18:00:00Z"`, value);
};

/** Player names: "host" (a QEMU on the host's PATH) or a stick player's target, `<os>-<arch>`. */
const PLAYER_NAME = /^(?:host|(?:linux|windows|macos)-(?:x64|arm64))$/;

export const playerNames: ValueCheck<readonly string[]> = (value, key) => {
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "string" && PLAYER_NAME.test(v)) && new Set(value).size === value.length) {
    return value as string[];
  }
  throw bad(key, `a list of player names, each once, from "host" and "<os>-<arch>" (os: linux, windows, macos; arch: x64, arm64), such as ["linux-x64"]`, value);
};
