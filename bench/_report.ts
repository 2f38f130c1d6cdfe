/**
 * The benchmark's report: its result types (what `--json` prints), tables for the terminal, a
 * Markdown report, and an SVG chart.
 *
 * @module
 */

const KiB = 1024;
const MiB = 1024 * KiB;

// ---------------------------------------------------------------------------------------------
// The results
// ---------------------------------------------------------------------------------------------

/** A median with the smallest and the largest of the runs. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** One throughput row of the report. */
export interface ThroughputResult {
  method: string;
  mode: "channel" | "file";
  chunk: number;
  bytes: number;
  runs: number;
  mibPerSecond: Spread;
  cpuSecondsPerGiB: { server: number; client: number };
  peakRssBytes: { server: number; client: number };
  /** The C reference in the same run (channel mode), when it was measured. */
  c?: { mibPerSecond: Spread; chunkUsed: number };
}

/** One latency row of the report. */
export interface LatencyResult {
  method: string;
  messageSize: number;
  iterations: number;
  roundTripMicros: { median: number; p99: number };
  c?: { roundTripMicros: { median: number; p99: number } };
}

/** The whole report (what --json prints). */
export interface BenchReport {
  date: string;
  machine: Record<string, string | number>;
  settings: { size: number; runs: number; latencyRuns: number; iterations: number; pin: string };
  throughput: ThroughputResult[];
  latency: LatencyResult[];
  baseline: {
    memcpyMiBPerSecond: number;
    checksumMiBPerSecond: number;
    c?: { memcpy: number; checksum: number };
  };
}

// ---------------------------------------------------------------------------------------------
// Tables, the Markdown report, the chart
// ---------------------------------------------------------------------------------------------

const size = (bytes: number) =>
  bytes >= MiB && bytes % MiB === 0
    ? `${bytes / MiB} MiB`
    : bytes >= KiB && bytes % KiB === 0
    ? `${bytes / KiB} KiB`
    : `${bytes} B`;
const n0 = (x: number) => Math.round(x).toLocaleString("en-US");
const n1 = (x: number) => x.toFixed(1);
const n2 = (x: number) => x.toFixed(2);

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(" | ")} |`,
    `|${header.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`,
    ...rows.map((row) => `| ${row.join(" | ")} |`),
  ].join("\n");
}

function throughputTable(rows: ThroughputResult[]): string {
  return table(
    [
      "method",
      "mode",
      "chunk",
      "MiB/s median",
      "min–max",
      "C MiB/s",
      "× C",
      "CPU s/GiB server, client",
      "peak RSS server, client",
    ],
    rows.map((row) => [
      row.method,
      row.mode,
      size(row.chunk),
      n0(row.mibPerSecond.median),
      `${n0(row.mibPerSecond.min)}–${n0(row.mibPerSecond.max)}`,
      row.c
        ? `${n0(row.c.mibPerSecond.median)}${
          row.c.chunkUsed !== row.chunk ? ` (${size(row.c.chunkUsed)})` : ""
        }`
        : "–",
      row.c ? n2(row.mibPerSecond.median / row.c.mibPerSecond.median) : "–",
      `${n2(row.cpuSecondsPerGiB.server)}, ${n2(row.cpuSecondsPerGiB.client)}`,
      `${n0(row.peakRssBytes.server / MiB)} MiB, ${n0(row.peakRssBytes.client / MiB)} MiB`,
    ]),
  );
}

function latencyTable(rows: LatencyResult[]): string {
  return table(
    ["method", "message", "median µs", "p99 µs", "C median µs", "C p99 µs", "× C (median)"],
    rows.map((row) => [
      row.method,
      size(row.messageSize),
      n1(row.roundTripMicros.median),
      n1(row.roundTripMicros.p99),
      row.c ? n1(row.c.roundTripMicros.median) : "–",
      row.c ? n1(row.c.roundTripMicros.p99) : "–",
      row.c ? n2(row.roundTripMicros.median / row.c.roundTripMicros.median) : "–",
    ]),
  );
}

/** The targets of the benchmark issue, with what this run measured. */
function targetsTable(report: BenchReport): string {
  const rows: string[][] = [];
  const channel = report.throughput.filter((row) => row.mode === "channel");
  for (const row of channel.filter((row) => row.c)) {
    const ratio = row.mibPerSecond.median / row.c!.mibPerSecond.median;
    rows.push([
      `${row.method} channel, ${size(row.chunk)}`,
      "≥ 0.80 × C",
      n2(ratio),
      ratio >= 0.8 ? "met" : "missed",
    ]);
  }
  for (const mode of ["channel", "file"] as const) {
    const rows_ = report.throughput.filter((row) => row.mode === mode);
    for (const shm of rows_.filter((row) => row.method === "shm")) {
      // Channel mode compares the same chunk; file mode each lesson as it comes.
      const pipe = rows_.find((row) =>
        row.method === "pipe" && (mode === "file" || row.chunk === shm.chunk)
      );
      if (!pipe) continue;
      const ratio = shm.mibPerSecond.median / pipe.mibPerSecond.median;
      rows.push([
        `shm vs pipe, ${mode}, ${mode === "file" ? "the lessons' demos" : size(shm.chunk)}`,
        "≥ 2 × pipe",
        n2(ratio),
        ratio >= 2 ? "met" : "missed",
      ]);
    }
  }
  for (const row of report.latency.filter((row) => row.c)) {
    const ratio = row.roundTripMicros.median / row.c!.roundTripMicros.median;
    rows.push([
      `${row.method} round trip, ${size(row.messageSize)}`,
      "≤ 1.5 × C",
      n2(ratio),
      ratio <= 1.5 ? "met" : "missed",
    ]);
  }
  return table(["measure", "target", "measured", ""], rows);
}

function baselineLines(report: BenchReport): string {
  const base = report.baseline;
  const c = base.c ? ` (C: ${n0(base.c.memcpy)})` : "";
  const cSum = base.c ? ` (C's own checksum: ${n0(base.c.checksum)})` : "";
  return [
    `- single-process copy of ${size(report.settings.size)} in 64 KiB pieces: ${
      n0(base.memcpyMiBPerSecond)
    } MiB/s${c}: no channel can beat this.`,
    `- the receivers' checksum alone (CRC-32, native): ${
      n0(base.checksumMiBPerSecond)
    } MiB/s${cSum}: the ceiling of channel mode.`,
  ].join("\n");
}

/** Prints the tables on stdout. */
export function printTables(report: BenchReport): void {
  console.log(
    `\nThroughput: ${
      size(report.settings.size)
    } per run, median of ${report.settings.runs} interleaved runs`,
  );
  console.log(throughputTable(report.throughput));
  console.log(
    `\nLatency: round trips, median of ${report.settings.latencyRuns} runs of ${report.settings.iterations}`,
  );
  console.log(latencyTable(report.latency));
  console.log("\nBaselines:");
  console.log(baselineLines(report));
  if (report.throughput.some((row) => row.c)) {
    console.log("\nTargets:");
    console.log(targetsTable(report));
  }
}

/** What the latency numbers mean on this kind of machine. */
function latencyNote(report: BenchReport): string {
  return report.settings.pin === "same"
    ? "\nBoth processes ran on CPU 0: each round trip is the system calls and two context switches, the true\ncost of the mechanism.\n"
    : "\nThe processes were not pinned. A C process that waits sleeps at once, and on this virtual machine the\nwake-up of a halted vCPU costs about 45 µs; the lessons' waits first poll for 20 µs (`SPIN_US`), so the\npeer's answer usually arrives before they sleep. Run with `--pin same` for the cost of the mechanism\nitself (see bench/README.md).\n";
}

/** The Markdown report. */
export function markdownReport(report: BenchReport): string {
  const m = report.machine;
  return `# IPC benchmark

Measured ${report.date.slice(0, 16).replace("T", " ")} UTC with \`deno task bench\` on ${
    m["cpu"]
  } × ${m["cpus"]},
Linux ${m["kernel"]}, Deno ${m["deno"]}; mq limits ${m["mqMsgMax"]} messages × ${
    m["mqMsgsizeMax"]
  } bytes,
pipe-max-size ${size(Number(m["pipeMaxSize"]))}; processes pinned: ${m["pin"]}. ${
    m["cReference"]
  }.${m["loadAverage"] === undefined ? "" : ` Load average before the run: ${m["loadAverage"]}.`}

![throughput and latency per method](chart.svg)

## Throughput

*channel*: ${
    size(report.settings.size)
  } of in-memory data through the channel, checked by a checksum (the cost of
the IPC alone). *file*: file → channel → file, the lesson's demo itself. Median of ${report.settings.runs}
interleaved runs; CPU time per GiB for each process (the sender, and the receiver); peak resident memory.

${throughputTable(report.throughput)}

## Latency

Ping-pong round trips (one channel each way), median and 99th percentile, median of
${report.settings.latencyRuns} runs of ${report.settings.iterations} round trips.
${latencyNote(report)}

${latencyTable(report.latency)}

## Baselines

${baselineLines(report)}
${report.throughput.some((row) => row.c) ? `\n## Targets\n\n${targetsTable(report)}\n` : ""}`;
}

/** A bar chart: channel throughput at 64 KiB (a queue's largest message) and 64-byte latency. */
export function chartSvg(report: BenchReport): string {
  const methods = [...new Set(report.throughput.map((row) => row.method))];
  const throughput = methods.map((method) => {
    // A lesson whose transport has no channel for two processes (threads, and its variants)
    // has file-mode rows only: its demo's figure, marked "file".
    const channel = report.throughput.filter((row) =>
      row.method === method && row.mode === "channel"
    );
    const rows = channel.length > 0
      ? channel
      : report.throughput.filter((row) => row.method === method);
    const row = rows.find((row) => row.chunk === 64 * KiB) ?? rows.at(-1)!;
    return {
      method,
      label: `${method} (${channel.length > 0 ? "" : "file, "}${size(row.chunk)})`,
      deno: row.mibPerSecond.median,
      c: row.c?.mibPerSecond.median,
    };
  });
  const latency = methods.flatMap((method) => {
    const row = report.latency.find((row) => row.method === method && row.messageSize === 64);
    if (row === undefined) return []; // no channel: no round trip measured
    return [{
      method,
      label: method,
      deno: row.roundTripMicros.median,
      c: row.c?.roundTripMicros.median,
    }];
  });
  const panel = (x: number, title: string, unit: string, bars: typeof throughput) => {
    const width = 400;
    const max = Math.max(...bars.flatMap((bar) => [bar.deno, bar.c ?? 0])) * 1.15 || 1;
    const rowHeight = 46;
    const parts = [`<text x="${x}" y="24" font-size="15" font-weight="bold">${title}</text>`];
    bars.forEach((bar, i) => {
      const y = 44 + i * rowHeight;
      const w = (value: number) => Math.max(1, (value / max) * (width - 150));
      parts.push(`<text x="${x}" y="${y + 14}" font-size="12">${bar.label}</text>`);
      parts.push(
        `<rect x="${x + 110}" y="${y}" width="${w(bar.deno)}" height="16" fill="#2b7bb9"/>`,
      );
      parts.push(
        `<text x="${x + 114 + w(bar.deno)}" y="${y + 13}" font-size="11">${
          unit === "MiB/s" ? n0(bar.deno) : n1(bar.deno)
        } ${unit}</text>`,
      );
      if (bar.c !== undefined) {
        parts.push(
          `<rect x="${x + 110}" y="${y + 18}" width="${w(bar.c)}" height="10" fill="#b0b0b0"/>`,
        );
        parts.push(
          `<text x="${x + 114 + w(bar.c)}" y="${y + 27}" font-size="10" fill="#555">C ${
            unit === "MiB/s" ? n0(bar.c) : n1(bar.c)
          }</text>`,
        );
      }
    });
    return parts.join("\n  ");
  };
  const m = report.machine;
  // The footnotes are wrapped to the width left of them: an SVG <text> never wraps by itself,
  // and what runs past the right edge is cut off.
  const note = wrapText(
    report.settings.pin === "same"
      ? "both processes on CPU 0"
      // A no-break space (\u00a0) keeps each number with its unit when the line is wrapped.
      : "not pinned: C sleeps at once and pays a halted vCPU's wake-up (~45\u00a0µs); the lessons poll 20\u00a0µs first",
    CHART_WIDTH - 450 - 10,
    10,
  );
  const credits = wrapText(
    `deno task bench, ${report.date.slice(0, 10)}, ${m["cpu"]} × ${m["cpus"]}, Linux ${
      m["kernel"]
    }, Deno ${m["deno"]}; blue: the lessons' transports, grey: C (refbench)`,
    CHART_WIDTH - 10 - 10,
    10,
  );
  const noteY = 64 + methods.length * 46;
  const creditsY = noteY + 16 + (note.length - 1) * LINE_HEIGHT;
  const height = creditsY + 10 + (credits.length - 1) * LINE_HEIGHT;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${CHART_WIDTH}" height="${height}" font-family="sans-serif">
  <rect width="${CHART_WIDTH}" height="${height}" fill="white"/>
  ${panel(10, "Throughput, channel mode (higher is better)", "MiB/s", throughput)}
  ${panel(450, "Round trip, 64 bytes (lower is better)", "µs", latency)}
  ${textLines(450, noteY, 'font-size="10" fill="#555"', note)}
  ${textLines(10, creditsY, 'font-size="10" fill="#555"', credits)}
</svg>
`;
}

/** The chart's width in pixels. */
const CHART_WIDTH = 860;
/** The distance between the baselines of a wrapped footnote's lines, for its 10 px font. */
const LINE_HEIGHT = 12;

/**
 * Splits `text` at spaces into lines no wider than `maxWidth` pixels at `fontSize`, estimating
 * a sans-serif character as 0.6 em: wider than the average, so a line fits in the common sans-serif fonts.
 */
export function wrapText(text: string, maxWidth: number, fontSize: number): string[] {
  const perLine = Math.max(1, Math.floor(maxWidth / (0.6 * fontSize)));
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > perLine) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines;
}

/** One <text>, with a <tspan> per line when there is more than one (SVG has no line breaks). */
function textLines(x: number, y: number, attributes: string, lines: string[]): string {
  if (lines.length === 1) return `<text x="${x}" y="${y}" ${attributes}>${lines[0]}</text>`;
  const spans = lines.map((line, i) =>
    `<tspan x="${x}" dy="${i === 0 ? 0 : LINE_HEIGHT}">${line}</tspan>`
  );
  return `<text x="${x}" y="${y}" ${attributes}>${spans.join("")}</text>`;
}
