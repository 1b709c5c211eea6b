/** A one-line progress bar on stderr (bytes, throughput, ETA), drawn only on a terminal. */
export function progressBar(label: string, unit: "bytes" | "items"): { update: (done: number, total: number) => void; end: () => void } {
  const tty = process.stderr.isTTY;
  const started = Date.now();
  let lastDraw = 0;
  let drawn = false;
  const fmt = (n: number): string => (unit === "bytes" ? `${(n / 1024 / 1024).toFixed(1)} MiB` : String(n));
  return {
    update(done, total) {
      const now = Date.now();
      if (!tty || (now - lastDraw < 200 && done < total)) return;
      lastDraw = now;
      drawn = true;
      const secs = Math.max((now - started) / 1000, 0.001);
      const rate = done / secs;
      const eta = rate > 0 ? Math.ceil((total - done) / rate) : 0;
      const width = 24;
      const filled = total > 0 ? Math.round((done / total) * width) : width;
      const bar = "#".repeat(filled) + "-".repeat(width - filled);
      const speed = unit === "bytes" ? `${(rate / 1024 / 1024).toFixed(1)} MiB/s` : `${rate.toFixed(0)}/s`;
      process.stderr.write(`\r${label} [${bar}] ${fmt(done)} / ${fmt(total)}  ${speed}  ETA ${eta}s  `);
    },
    end() {
      if (drawn) process.stderr.write("\n");
    },
  };
}
