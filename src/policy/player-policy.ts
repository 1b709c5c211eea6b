import { POLICY_SCHEMA, stickPolicy, type Policy } from "./policy-schema.js";

/** What the policy says about the player (DESIGN section 7; docs/POLICY.md: network, memory, cpus, usbPassthrough, clipboard, players). */
export interface PlayerPolicy {
  network: Policy["network"];
  memoryBytes: number;
  cpus: number;
  usbPassthrough: boolean;
  clipboard: boolean;
  /** The players allowed ("host", `<os>-<arch>`); undefined: any. */
  players: readonly string[] | undefined;
}

export const DEFAULT_PLAYER_POLICY: PlayerPolicy = {
  network: POLICY_SCHEMA.network.default,
  memoryBytes: POLICY_SCHEMA.memory.default,
  cpus: POLICY_SCHEMA.cpus.default,
  usbPassthrough: POLICY_SCHEMA.usbPassthrough.default,
  clipboard: POLICY_SCHEMA.clipboard.default,
  players: POLICY_SCHEMA.players.default,
};

export function playerPolicy(policyBytes: Buffer | undefined): PlayerPolicy {
  const p = stickPolicy(policyBytes);
  return { network: p.network, memoryBytes: p.memory, cpus: p.cpus, usbPassthrough: p.usbPassthrough, clipboard: p.clipboard, players: p.players };
}
