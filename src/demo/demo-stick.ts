// The built-in demo stick: the demo guest's system disk and boot files, a small user disk, and
// a policy sized for a tiny guest.
import { writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { buildStick, BUILD_DEFAULTS, type BuildOptions, type BuildResult } from "../admin/build.js";
import { keygen } from "../admin/keygen.js";
import type { Argon2Params } from "../crypto/kdf.js";
import { DEFAULT_CHUNK_SIZE } from "../../stick-layout/format.js";
import { buildDemoGuest } from "./demo-guest.js";

const MiB = 1024 * 1024;

/** A busybox guest needs little: 512 MiB and one CPU keep TCG light; it has no use for a network. */
export const DEMO_POLICY = { memory: "512M", cpus: 1, network: "off" } as const;

export interface DemoStickOptions {
  /** The stick folder to create (must not exist, or be empty). */
  stick: string;
  /** Where the admin's keys, the policy and the recovery key go. */
  work: string;
  passphrase: string;
  /** Where the demo guest's build is cached (kernel download, initramfs, system image). */
  guestCache: string;
  userSize?: number;
  kdf?: Argon2Params;
  /** Passed on to the build: a bundled player, the launcher executables, progress. */
  extra?: Pick<BuildOptions, "players" | "launchers" | "onProgress">;
}

/** Builds the demo stick: the system disk boots directly with the demo guest's kernel and initramfs. */
export async function buildDemoStick(o: DemoStickOptions): Promise<BuildResult> {
  const guest = await buildDemoGuest(o.guestCache);
  const { secretKey } = await keygen(join(o.work, "keys"));
  const policy = join(o.work, "demo-policy.json");
  await writeFile(policy, `${JSON.stringify(DEMO_POLICY, null, 2)}\n`);
  return buildStick({
    image: guest.systemImage,
    out: o.stick,
    signingKey: secretKey,
    passphrase: o.passphrase,
    boot: { kernel: guest.kernel, initrd: guest.initrd, append: guest.append },
    chunkSize: DEFAULT_CHUNK_SIZE,
    userSize: o.userSize ?? 256 * MiB,
    localSize: 64 * MiB,
    policy,
    lineage: BUILD_DEFAULTS.lineage,
    kdf: o.kdf ?? BUILD_DEFAULTS.kdf,
    compressionLevel: BUILD_DEFAULTS.compressionLevel,
    packLimit: BUILD_DEFAULTS.packLimit,
    threads: availableParallelism(),
    recoveryKeyFile: join(o.work, "recovery-key.txt"),
    ...o.extra,
  });
}
