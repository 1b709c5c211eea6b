import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import type { BootProfileOptions } from "../cache/boot-profile-session.js";
import { describeSession, type SessionStats } from "../cache/session-stats.js";
import { describeWipe } from "../securewipe/describe-wipe.js";
import { watchStickPresence, type StickPresence } from "../securewipe/stick-presence.js";
import { writeBootFiles } from "../chunkstore/boot-files.js";
import { join } from "node:path";
import type { Unlock } from "../chunkstore/stick-files.js";
import { InterruptedError } from "../errors/errors.js";
import { detectHost, type HostReport } from "../host/detect-host.js";
import { findPlayer, type Player } from "../player/find-player.js";
import { probeCapabilities } from "../player/player-capabilities.js";
import { qemuArgs } from "../player/qemu-args.js";
import { diesWithLauncher, playerCommand, playerEnv } from "../player/start-player.js";
import { playerPolicy } from "../policy/player-policy.js";
import { LOOPBACK } from "../nbd/server.js";
import { openServeSession } from "../serve/serve-stick.js";
import type { Terminal } from "./guest-terminal.js";
import { freeLoopbackPort } from "./free-port.js";
import { copyPlayerForExec } from "./player-exec-copy.js";
import { runPlayerSession, type PlayerOutcome } from "./player-session.js";
import { canExecuteIn, createRunFolder, runFolderCandidates } from "./run-folder.js";

export interface RunOptions {
  stick: string;
  unlock: Unlock;
  /** No window: the guest's serial console on the terminal. Also chosen when the host has no display. */
  headless: boolean;
  /** How long the guest has to power off after Ctrl-C or SIGTERM before QEMU is stopped. */
  powerdownTimeoutMs: number;
  terminal: Terminal;
  stopRequests: (listener: () => void) => () => void;
  onStatus: (message: string) => void;
  onWarning: (message: string) => void;
  env?: NodeJS.ProcessEnv;
  /** The host cache's folder (`--cache-dir`); default the policy's, else the OS's per-user cache folder. */
  cacheDir?: string;
  /** What the session's reads did at the end (`--stats`); logged through onStatus too. */
  onStats?: (stats: SessionStats) => void;
  /** How the boot profile is used and recorded (default: prefetch the stick's, record the first minutes). */
  bootProfile?: BootProfileOptions;
  /** Policy `host: "ask"`: asks the person whether this computer is theirs (the CLI's terminal; absent: a kiosk). */
  askTrust?: () => Promise<boolean>;
  /** How QEMU reaches the NBD server and its own QMP socket: Unix sockets, except on Windows (TCP on 127.0.0.1). */
  transport?: "unix" | "tcp";
}

/**
 * `stickvm run`: describe the host, lock and unlock the stick (its manifests checked), serve
 * its three disks on a Unix socket in the run folder (TCP on 127.0.0.1 on Windows), find and
 * start the player with the argv the host and policy call for (with the stick's kernel and
 * initrd when it has them), and wait until the guest powers off or a stop request ends the
 * session, or the stick is pulled (the player is killed at once). Every path then flushes and
 * closes the disks, stops the server, and wipes what the session made on the host (the run and
 * session folders, a kiosk's cache; src/securewipe/). Nothing starts when a step before the
 * player fails.
 */
export async function runStick(o: RunOptions): Promise<PlayerOutcome> {
  const env = o.env ?? process.env;
  const host = await detectHost({ stick: o.stick, requireStick: true, env });
  let stopRequests = 0;
  const unsubscribe = o.stopRequests(() => { stopRequests++; });
  // a function, not a variable: the listener changes the count between awaits
  const checkStop = (): void => {
    if (stopRequests > 0) throw new InterruptedError("stopped before the guest started");
  };
  try {
    o.onStatus("unlocking the stick");
    const tcp = (o.transport ?? (host.system.platform === "win32" ? "tcp" : "unix")) === "tcp";
    let runDir = "";
    const session = await openServeSession({
      stick: o.stick,
      unlock: o.unlock,
      // the run folder is journaled like the rest, so it is made once the stick is locked and unlocked
      listen: async (residue) => {
        const usable = mustCopyPlayer(host) ? canExecuteIn : undefined;
        runDir = await createRunFolder(runFolderCandidates(env, host.system.platform), (base) => residue.makeFolder("run", base), usable);
        return tcp ? { port: 0 } : { socket: join(runDir, "nbd.sock") };
      },
      onWarning: o.onWarning,
      onWiped: (report, which) => {
        for (const line of describeWipe(report, which)) o.onStatus(line);
      },
      ...(o.cacheDir === undefined ? {} : { cacheDir: o.cacheDir }),
      ...(o.bootProfile === undefined ? {} : { bootProfile: o.bootProfile }),
      ...(env.STICKVM_LAUNCHER_COPY ? { launcherCopy: env.STICKVM_LAUNCHER_COPY } : {}),
      ...(o.askTrust === undefined ? {} : { askTrust: o.askTrust }),
    });
    const stickGone = new AbortController();
    let presence: StickPresence | undefined;
    let outcome: PlayerOutcome;
    try {
      presence = await watchStickPresence(o.stick, (why) => {
        o.onWarning(`the stick is gone (${why}): stopping the guest at once`);
        stickGone.abort();
      });
      checkStop();
      const policy = playerPolicy(session.stick.policyBytes);
      const player = await runnablePlayer(
        await findPlayer({ stick: o.stick, platform: host.system.platform, arch: host.system.arch, allowHostPlayer: policy.allowHostPlayer, ...(env.PATH === undefined ? {} : { path: env.PATH }) }),
        host,
        runDir,
        o.onStatus,
      );
      const display = o.headless || !host.display.available ? "none" : "window";
      if (display === "none" && !o.headless) o.onStatus(`no display (${host.display.how}): the guest's console is this terminal`);
      const qmp = tcp ? { host: LOOPBACK, port: await freeLoopbackPort() } : { socket: join(runDir, "qmp.sock") };
      // decoded into the run folder (RAM where the host has it), and removed once QEMU has loaded them
      const bootDir = join(runDir, "boot");
      await mkdir(bootDir, { mode: 0o700 });
      const boot = await writeBootFiles(session.stick, bootDir);
      // whatever the player writes goes here, in the run folder that is wiped at the end
      const playerHome = join(runDir, "home");
      await mkdir(playerHome, { mode: 0o700 });
      const args = qemuArgs({
        host: { cpus: host.system.cpus, freeMemoryBytes: host.system.freeMemoryBytes, accelerators: host.accelerators },
        policy,
        nbd: session.address,
        qmp,
        capabilities: await probeCapabilities(player, playerEnv(env, playerHome)),
        ...(boot === undefined ? {} : { boot }),
        display,
      });
      checkStop();
      o.onStatus(`starting the guest (${describeAccelerator(host)}); Ctrl-C asks it to power off`);
      outcome = await runPlayerSession({
        command: diesWithLauncher(playerCommand(player, args, playerEnv(env, playerHome)), host.system.platform, existsSync),
        qmp,
        headless: display === "none",
        terminal: o.terminal,
        stopRequests: o.stopRequests,
        powerdownTimeoutMs: o.powerdownTimeoutMs,
        onStarted: async () => {
          // unlinked, not overwritten: QEMU maps the initrd, and truncating a mapped file kills it (SIGBUS); they hold the admin's kernel, not the user's data
          await rm(bootDir, { recursive: true, force: true });
          o.onStatus("the guest is running");
        },
        onStatus: o.onStatus,
        stickGone: stickGone.signal,
      });
    } catch (err) {
      await presence?.stop();
      await session.close().catch((closeErr: unknown) => { o.onWarning(`closing the session: ${(closeErr as Error).message}`); });
      throw err;
    }
    await presence.stop();
    o.onStatus("flushing the user disk and wiping this session's files");
    if (outcome.stoppedBy === "stick-removed") {
      // the user log cannot reach the stick: what it had synced is safe there; the host's residue is wiped all the same
      await session.close().catch((err: unknown) => { o.onWarning(`closing the session without its stick: ${(err as Error).message}`); });
    } else await session.close();
    const stats = session.stick.stats();
    for (const line of describeSession(stats)) o.onStatus(line);
    o.onStats?.(stats);
    return outcome;
  } finally {
    unsubscribe();
  }
}

/** A noexec or showexec stick cannot run its player's loader in place. */
function mustCopyPlayer(host: HostReport): boolean {
  const fs = host.stick.fileSystem;
  return fs !== null && (fs.noexec || fs.showexec);
}

/** The stick's player where it can run: copied into the run folder when the stick cannot run it. */
async function runnablePlayer(player: Player, host: HostReport, runDir: string, status: (message: string) => void): Promise<Player> {
  if (player.kind === "host") {
    status(`player: this host's ${player.binary} (the stick has none for this host)`);
    return player;
  }
  if (!mustCopyPlayer(host)) {
    status(`player: the stick's (${player.manifest.qemuVersion})`);
    return player;
  }
  status(`player: the stick's (${player.manifest.qemuVersion}), copied to ${runDir} because the stick is mounted noexec or showexec`);
  return copyPlayerForExec(player, join(runDir, "player"));
}

function describeAccelerator(host: HostReport): string {
  const first = host.accelerators[0];
  return first === undefined || first === "tcg" ? "software emulation: expect a slower guest" : `${first.toUpperCase()}, with software emulation as the fallback`;
}
