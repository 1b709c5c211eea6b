// nginx serving a folder on 127.0.0.1, as the current user, with a config in a temp folder (no system service).
import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface Nginx {
  url: string;
  accessLog: string;
  stop: () => Promise<void>;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("error", () => { resolve(false); });
  });
}

/** Starts nginx in the foreground (one process: no user switch, no master) serving `root`; `limitRate` slows each answer (bytes a second). */
export async function startNginx(dir: string, root: string, port: number, limitRate?: number): Promise<Nginx> {
  await mkdir(join(dir, "tmp"), { recursive: true });
  const accessLog = join(dir, "access.log");
  const conf = join(dir, "nginx.conf");
  await writeFile(
    conf,
    `daemon off;
master_process off;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")};
events { worker_connections 64; }
http {
  log_format ranges '$request_uri $status $http_range $body_bytes_sent';
  access_log ${accessLog} ranges;
  client_body_temp_path ${join(dir, "tmp")};
  proxy_temp_path ${join(dir, "tmp")};
  fastcgi_temp_path ${join(dir, "tmp")};
  uwsgi_temp_path ${join(dir, "tmp")};
  scgi_temp_path ${join(dir, "tmp")};
  server {
    listen 127.0.0.1:${port};
    root ${root};
    ${limitRate === undefined ? "" : `limit_rate ${limitRate};`}
  }
}
`,
  );
  const proc: ChildProcess = spawn("nginx", ["-c", conf, "-p", dir], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => proc.once("exit", () => { resolve(); }));
  for (let i = 0; !(await listening(port)); i++) {
    if (proc.exitCode !== null || i > 100) throw new Error("nginx did not start");
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    accessLog,
    stop: async () => {
      proc.kill("SIGKILL");
      await exited;
    },
  };
}
