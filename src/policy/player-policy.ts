import { CorruptStickError } from "../errors/errors.js";
import { parsePolicyJson } from "./policy-json.js";
import { oneOf, policySize } from "./policy-values.js";

/**
 * What the policy says about the player (DESIGN section 7). The fields of policy.json read here:
 * - `network`: "user" (default: QEMU's user-mode network, NAT through the host, no listening
 *   ports) or "none" (the guest has no network device at all).
 * - `memory`: the guest's RAM, bytes or a size such as "4G"; default 2G. The run step gives
 *   less when the host has less free (qemu-args.ts).
 * - `cpus`: the guest's virtual CPUs, a whole number from 1; default 2, never more than the
 *   host lets this process use.
 * - `usbPassthrough`: true lets host USB devices be attached to the guest (through QMP, while
 *   it runs); default false: the guest gets no controller for them.
 * - `allowHostPlayer`: true (default) lets the launcher use a QEMU on the host's PATH when the
 *   stick has no player for the host; false allows only the stick's own players.
 */
export interface PlayerPolicy {
  network: "user" | "none";
  memoryBytes: number;
  cpus: number;
  usbPassthrough: boolean;
  allowHostPlayer: boolean;
}

export const DEFAULT_PLAYER_POLICY: PlayerPolicy = {
  network: "user",
  memoryBytes: 2 * 1024 * 1024 * 1024,
  cpus: 2,
  usbPassthrough: false,
  allowHostPlayer: true,
};

export function playerPolicy(policyBytes: Buffer | undefined): PlayerPolicy {
  if (policyBytes === undefined) return DEFAULT_PLAYER_POLICY;
  const p = parsePolicyJson(policyBytes);
  const d = DEFAULT_PLAYER_POLICY;
  return {
    network: p.network === undefined ? d.network : oneOf(p.network, "network", ["user", "none"] as const),
    memoryBytes: p.memory === undefined ? d.memoryBytes : policySize(p.memory, "memory", 1),
    cpus: p.cpus === undefined ? d.cpus : cpus(p.cpus),
    usbPassthrough: p.usbPassthrough === undefined ? d.usbPassthrough : flag(p.usbPassthrough, "usbPassthrough"),
    allowHostPlayer: p.allowHostPlayer === undefined ? d.allowHostPlayer : flag(p.allowHostPlayer, "allowHostPlayer"),
  };
}

function flag(value: unknown, key: string): boolean {
  if (typeof value === "boolean") return value;
  throw new CorruptStickError(`policy.json: ${key} must be true or false, not ${JSON.stringify(value)}`);
}

function cpus(value: unknown): number {
  if (typeof value === "number" && Number.isInteger(value) && value >= 1) return value;
  throw new CorruptStickError(`policy.json: cpus must be a whole number from 1, not ${JSON.stringify(value)}`);
}
