import { get as httpGet, type IncomingMessage } from "node:http";
import { get as httpsGet } from "node:https";
import { StickvmError } from "../errors/errors.js";

/** A failed request to the update repository: unreachable, timed out, or an answer that is not the file. */
export class UpdateFetchError extends StickvmError {
  constructor(
    message: string,
    /** What arrived before the failure (a range cut short keeps its whole records). */
    readonly partial: Buffer = Buffer.alloc(0),
  ) {
    super("IO", message);
  }
}

export interface GetOptions {
  /** Bytes [start, end) only, with an HTTP Range request. */
  range?: { start: number; end: number };
  /** The most bytes a whole-file answer may have. */
  maxBytes: number;
  /** The longest silence (connecting, or between two pieces of the answer). */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** A file of the update repository at `base` (with or without its trailing slash). */
export function repositoryUrl(base: URL, name: string): URL {
  return new URL(name, base.href.endsWith("/") ? base : new URL(`${base.href}/`));
}

/** A file of the update repository, whole or a range of it, with Node's http and https modules. */
export function fetchBytes(url: URL, o: GetOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const get = url.protocol === "https:" ? httpsGet : httpGet;
    const headers = o.range ? { range: `bytes=${o.range.start}-${o.range.end - 1}` } : {};
    const parts: Buffer[] = [];
    const fail = (why: string): void => {
      req.destroy();
      reject(new UpdateFetchError(`${url.href}: ${why}`, Buffer.concat(parts)));
    };
    const req = get(url, { headers, timeout: o.timeoutMs, ...(o.signal ? { signal: o.signal } : {}) }, (res: IncomingMessage) => {
      const expected = o.range ? o.range.end - o.range.start : undefined;
      if (o.range ? res.statusCode !== 206 : res.statusCode !== 200) {
        res.resume();
        fail(`HTTP ${res.statusCode ?? "?"}${o.range && res.statusCode === 200 ? " (the server does not answer range requests)" : ""}`);
        return;
      }
      if (o.range && res.headers["content-range"]?.startsWith(`bytes ${o.range.start}-${o.range.end - 1}/`) !== true) {
        res.resume();
        fail(`the server answered another range (${res.headers["content-range"] ?? "none"})`);
        return;
      }
      let length = 0;
      res.on("data", (d: Buffer) => {
        length += d.length;
        if (length > (expected ?? o.maxBytes)) fail(`more than the ${expected ?? o.maxBytes} bytes expected`);
        else parts.push(d);
      });
      res.on("end", () => {
        if (expected !== undefined && length !== expected) fail(`${length} of ${expected} bytes arrived`);
        else resolve(Buffer.concat(parts));
      });
      res.on("error", (err) => { fail(err.message); });
      res.on("aborted", () => { fail("the connection was cut"); });
    });
    req.on("timeout", () => { fail(`no answer within ${o.timeoutMs} ms`); });
    req.on("error", (err) => { fail(err.message); });
  });
}
