#!/usr/bin/env node
// The user's executable: commander wiring only; the work is done by functions in src/.
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { EXIT } from "../src/cli/exit-codes.js";
import { readUnlock } from "../src/cli/unlock-options.js";
import { runCli } from "../src/cli/run-cli.js";
import { terminalRunIo } from "../src/cli/run-io.js";
import { abortOnStopSignals } from "../src/cli/stop-signals.js";
import { describeSession, sessionStatsLines, type SessionStats } from "../src/cache/session-stats.js";
import { UsageError } from "../src/errors/errors.js";
import { detectHost } from "../src/host/detect-host.js";
import { formatHost } from "../src/host/format-host.js";
import { askPlayer } from "../src/host/player-probe.js";
import { outcomeExitCode, outcomeMessage } from "../src/run/outcome.js";
import { runStick } from "../src/run/run-stick.js";
import { serveStick } from "../src/serve/serve-stick.js";
import { describeWipe } from "../src/securewipe/describe-wipe.js";
import { DEFAULT_WIPE_PASSES } from "../src/securewipe/residue.js";
import { wipeHostResidue } from "../src/securewipe/wipe-command.js";

/** `--stick` defaults to the folder that holds the executable (DESIGN section 4). */
const DEFAULT_STICK = resolve(dirname(fileURLToPath(import.meta.url)));

function port(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`--port ${text} is not a TCP port`);
  return n;
}

function seconds(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--powerdown-timeout ${text} is not a positive number of seconds`);
  return n;
}

function wipePasses(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 35) throw new UsageError(`--passes ${text} is not a whole number from 1 to 35`);
  return n;
}

function printStats(stats: SessionStats): void {
  process.stdout.write(sessionStatsLines(stats));
}

async function main(argv: string[]): Promise<number> {
  const program = new Command("stickvm").description("Run the managed desktop on this stick").version("0.1.0").exitOverride();
  let exitCode: number = EXIT.ok;

  program
    .command("run")
    .description("unlock the stick and boot its desktop; Ctrl-C asks the guest to power off")
    .option("--stick <stick>", "stick folder", DEFAULT_STICK)
    .option("--headless", "no window: the guest's serial console on this terminal")
    .option("--powerdown-timeout <seconds>", "how long the guest has to power off after Ctrl-C or SIGTERM", seconds, 60)
    .option("--passphrase-file <file>", "read the passphrase from this file (else $STICKVM_PASSPHRASE, else ask)")
    .option("--recovery-key-file <file>", "unlock with the recovery key in this file instead")
    .option("--cache-dir <dir>", "keep the host cache of base chunks under this folder (default: the policy's, else this OS's cache folder)")
    .option("--stats", "print the counters of the host cache, the stick's reads and the boot profile at exit")
    .action(async (o: { stick: string; headless?: boolean; powerdownTimeout: number; passphraseFile?: string; recoveryKeyFile?: string; cacheDir?: string; stats?: boolean }) => {
      const io = terminalRunIo();
      const outcome = await runStick({
        stick: o.stick,
        unlock: await readUnlock(o),
        headless: o.headless === true,
        powerdownTimeoutMs: o.powerdownTimeout * 1000,
        ...(o.cacheDir === undefined ? {} : { cacheDir: o.cacheDir }),
        ...(o.stats === true ? { onStats: printStats } : {}),
        ...io,
      });
      io.onStatus(outcomeMessage(outcome));
      exitCode = outcomeExitCode(outcome);
    });

  program
    .command("serve")
    .description("serve the stick's system, user and local disks over NBD until interrupted")
    .option("--stick <stick>", "stick folder", DEFAULT_STICK)
    .option("--socket <path>", "listen on this Unix socket")
    .option("--port <n>", "listen on this TCP port of 127.0.0.1", port)
    .option("--passphrase-file <file>", "read the passphrase from this file (else $STICKVM_PASSPHRASE, else ask)")
    .option("--recovery-key-file <file>", "unlock with the recovery key in this file instead")
    .option("--cache-dir <dir>", "keep the host cache of base chunks under this folder (default: the policy's, else this OS's cache folder)")
    .option("--stats", "print the counters of the host cache, the stick's reads and the boot profile at exit")
    .action(async (o: { stick: string; socket?: string; port?: number; passphraseFile?: string; recoveryKeyFile?: string; cacheDir?: string; stats?: boolean }) => {
      if ((o.socket === undefined) === (o.port === undefined)) throw new UsageError("give exactly one of --socket PATH and --port N");
      const listen = o.socket !== undefined ? { socket: o.socket } : { port: o.port ?? 0 };
      const unlock = await readUnlock(o);
      const stop = abortOnStopSignals("stopping: flushing the user disk and removing this session's files");
      await serveStick({
        stick: o.stick,
        unlock,
        listen,
        signal: stop.signal,
        onWarning: (message) => {
          process.stderr.write(`warning: ${message}\n`);
        },
        ...(o.cacheDir === undefined ? {} : { cacheDir: o.cacheDir }),
        onWiped: (report, which) => {
          for (const line of describeWipe(report, which)) process.stderr.write(`stickvm: ${line}\n`);
        },
        onStats: (stats) => {
          for (const line of describeSession(stats)) process.stderr.write(`stickvm: ${line}\n`);
          if (o.stats === true) printStats(stats);
        },
        onReady: (info) => {
          for (const e of info.exports) console.log(`${e.name}\t${e.size}\t${e.uri}`);
          console.log("ready");
        },
      });
    });

  program
    .command("wipe")
    .description("finish wiping what sessions of this stick that did not end cleanly (killed, power cut, stick pulled) left on this host")
    .option("--stick <stick>", "stick folder", DEFAULT_STICK)
    .option("--cache-dir <dir>", "a host cache folder those sessions used besides this OS's cache folder")
    .option("--passes <n>", "overwrite passes per file", wipePasses, DEFAULT_WIPE_PASSES)
    .option("--json", "print the report as JSON")
    .action(async (o: { stick: string; cacheDir?: string; passes: number; json?: boolean }) => {
      const r = await wipeHostResidue({ stick: o.stick, passes: o.passes, ...(o.cacheDir === undefined ? {} : { cacheDir: o.cacheDir }) });
      if (o.json === true) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else if (r.items.length === 0 && r.journalProblems.length === 0) console.log("nothing to wipe: no session of this stick left anything on this host");
      else for (const line of describeWipe(r, "stale")) console.log(line);
      if (r.items.some((i) => i.outcome === "refused" || i.outcome === "failed")) exitCode = EXIT.failure;
    });

  program
    .command("host")
    .description("describe this host: OS, CPUs, memory, cache space, accelerator, display, the stick's file system, host id")
    .option("--stick <stick>", "stick folder (default: the folder of this executable, when it holds a stick)")
    .option("--player <qemu>", "ask this QEMU whether it starts with the accelerator (how Windows confirms WHPX)")
    .option("--json", "print JSON")
    .action(async (o: { stick?: string; player?: string; json?: boolean }) => {
      const host = await detectHost({
        stick: o.stick ?? DEFAULT_STICK,
        requireStick: o.stick !== undefined,
        ...(o.player !== undefined ? { accelerator: { player: askPlayer(o.player) } } : {}),
      });
      process.stdout.write(o.json === true ? `${JSON.stringify(host, null, 2)}\n` : formatHost(host));
    });

  await program.parseAsync(argv);
  return exitCode;
}

// not awaited at top level: the single executable runs this file as CommonJS, which has no
// top-level await; runCli never rejects (it ends the process)
void runCli(() => main(process.argv));
