import { CorruptStickError } from "../errors/errors.js";
import { didYouMean } from "./did-you-mean.js";
import { parsePolicyJson } from "./policy-json.js";
import { absoluteFolder, flag, httpUrl, isoInstant, number, oneOf, playerNames, size, text, wholeNumber, type ValueCheck } from "./policy-values.js";

/** The most overwrite passes asked for: past one, extra passes only cost time (THREAT-MODEL.md). */
export const MAX_WIPE_PASSES = 35;

interface Entry<T> {
  check: ValueCheck<T>;
  /** What an absent key means. */
  default: T;
}

function entry<T>(check: ValueCheck<T>, dflt: T): Entry<T> {
  return { check, default: dflt };
}

function optional<T>(check: ValueCheck<T>): Entry<T | undefined> {
  return { check, default: undefined };
}

/**
 * Every key policy.json may have, its check and its default; what each does is in docs/POLICY.md.
 * A key not listed here is refused: a typo must not silently leave a default in force.
 */
export const POLICY_SCHEMA = {
  /** The admin's own remark, read by nobody (JSON has no comments). */
  note: optional(text),
  host: entry(oneOf(["kiosk", "trusted", "ask"] as const), "kiosk"),
  cacheSize: entry(size(0), 4 * 1024 ** 3),
  cacheShareOfFreeDisk: entry(number(0, 1), 0.25),
  cacheDir: optional(absoluteFolder),
  network: entry(oneOf(["off", "user-mode"] as const), "user-mode"),
  memory: entry(size(1), 2 * 1024 ** 3),
  cpus: entry(wholeNumber(1), 2),
  usbPassthrough: entry(flag, false),
  clipboard: entry(flag, false),
  /** Absent: any player (the stick's for the host, else the host's QEMU). */
  players: optional(playerNames),
  systemChanges: entry(oneOf(["volatile", "persistent"] as const), "volatile"),
  /** Absent: a quarter of the system disk (system-changes.ts). */
  systemChangesSize: optional(size(1)),
  /** Absent: the launcher's default (src/securewipe/residue.ts). */
  wipePasses: optional(wholeNumber(1, MAX_WIPE_PASSES)),
  expires: optional(isoInstant),
  maxOfflineDays: optional(wholeNumber(1)),
  updateUrl: optional(httpUrl),
  updatePostponeLimit: entry(wholeNumber(0), 3),
  updateCheckTimeoutSeconds: entry(number(0), 10),
};

type Schema = typeof POLICY_SCHEMA;
export type PolicyKey = keyof Schema;
/** A policy with every key checked and every absent key at its default. */
export type Policy = { [K in PolicyKey]: Schema[K] extends Entry<infer T> ? T : never };

const KEYS = Object.keys(POLICY_SCHEMA) as PolicyKey[];

/** Keys of earlier policies, with what replaced them. */
const REPLACED: Record<string, string> = {
  allowHostPlayer: `allowHostPlayer was replaced by players: list the players allowed, such as ["linux-x64", "host"] ("host" is a QEMU on the host's PATH)`,
};

/** Checks a parsed policy.json against the schema: CorruptStickError naming the first bad key and what it allows. */
export function validatePolicy(raw: Record<string, unknown>): Policy {
  for (const key of Object.keys(raw)) {
    if (Object.hasOwn(POLICY_SCHEMA, key)) continue;
    const replaced = Object.hasOwn(REPLACED, key) ? REPLACED[key] : undefined;
    if (replaced !== undefined) throw new CorruptStickError(`policy.json: ${replaced}`);
    const guess = didYouMean(key, KEYS);
    throw new CorruptStickError(`policy.json: unknown key ${JSON.stringify(key)}${guess === undefined ? "" : ` (did you mean ${JSON.stringify(guess)}?)`}; the keys are ${KEYS.join(", ")}`);
  }
  const policy: Record<string, unknown> = {};
  for (const key of KEYS) {
    const e: Entry<unknown> = POLICY_SCHEMA[key];
    policy[key] = raw[key] === undefined ? e.default : e.check(raw[key], key);
  }
  const p = policy as Policy;
  // the offline days are counted from the last contact with the update URL: without one, every stick would soon refuse
  if (p.maxOfflineDays !== undefined && p.updateUrl === undefined) throw new CorruptStickError("policy.json: maxOfflineDays needs updateUrl (the days are counted from the last contact with it)");
  return p;
}

/** The stick's policy (its signed policy.json's bytes), checked; without one, every default. */
export function stickPolicy(policyBytes: Buffer | undefined): Policy {
  return validatePolicy(policyBytes === undefined ? {} : parsePolicyJson(policyBytes));
}
