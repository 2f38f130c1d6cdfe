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
const capitalised = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
/** "1 run", "3 runs". */
const runsOf = (count: number, noun = "run") =>
  `${count.toLocaleString("en-US")} ${noun}${count === 1 ? "" : "s"}`;
/** "the median of 3 runs", or "1 run" (a single run has no median to take). */
const medianOf = (count: number, noun = "run") =>
  count === 1 ? runsOf(1, noun) : `the median of ${runsOf(count, noun)}`;

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

/**
 * Where a channel of the lessons and its C counterpart are not set up alike, by method: a tuning
 * the lessons' transport has and refbench lacks. (The Unix socket's send buffer: `SEND_BUFFER`
 * in transports/socket.ts.)
 */
const TUNED_FOR_THE_LESSONS_ONLY: Record<string, string> = {
  unix:
    "the lessons' Unix socket asks for a 512 KiB send buffer (SO_SNDBUF; the kernel counts twice that), C's keeps the default (wmem_default, 208 KiB on most systems); bench/README.md gives what it changed",
};

/**
 * C's speed in a channel cell had its receiver checked the data at the lessons' cost: its time
 * per MiB less what its own checksum costs over the lessons' CRC-32, both measured alone in the
 * same run. That assumes the checksum is all on the critical path (so it is true pinned, and a
 * bound otherwise); Infinity when C's checksum alone takes as long as the whole transfer did.
 */
export function cAtTheLessonsChecksum(report: BenchReport, cMiBPerSecond: number): number | null {
  const base = report.baseline;
  if (base.c === undefined) return null;
  const secondsPerMiB = 1 / cMiBPerSecond - (1 / base.c.checksum - 1 / base.checksumMiBPerSecond);
  return secondsPerMiB > 0 ? 1 / secondsPerMiB : Infinity;
}

/** The largest chunk at which an unpinned run's wait policy can decide a throughput cell. */
const WAIT_BOUND_CHUNK = 64 * KiB;

/** The footnotes of the targets, in order: the differences that decide or shape a cell. */
const NOTE = {
  checksum: "¹",
  wait: "²",
  tuned: "³",
} as const;

/**
 * The targets of the benchmark issue, with what this run measured, and the footnotes of the
 * cells that a difference between the two sides decides or shapes. Every difference favours the
 * lessons, so a miss stands; a cell that would be met where a difference decides it is "not
 * comparable".
 */
function targets(report: BenchReport): { table: string; notes: string[] } {
  const rows: string[][] = [];
  const used = new Set<keyof typeof NOTE>();
  const unpinned = report.settings.pin !== "same";
  /**
   * "met", "missed", or "not comparable", with the footnotes that apply: a difference that
   * could decide the cell matters only where it is met (each favours the lessons).
   */
  const verdict = (
    met: boolean,
    deciding: (keyof typeof NOTE)[],
    shaping: (keyof typeof NOTE)[],
  ) => {
    const apply = [...(met ? deciding : []), ...shaping];
    for (const key of apply) used.add(key);
    const marks = apply.map((key) => NOTE[key]).join("");
    const word = !met ? "missed" : deciding.length > 0 ? "not comparable" : "met";
    return marks === "" ? word : `${word} ${marks}`;
  };
  const channel = report.throughput.filter((row) => row.mode === "channel");
  for (const row of channel.filter((row) => row.c)) {
    const ratio = row.mibPerSecond.median / row.c!.mibPerSecond.median;
    const deciding: (keyof typeof NOTE)[] = [];
    // The ratio had C's receiver checked at the lessons' cost: when it falls short of the target
    // where the measured one meets it, the checksums decide the cell.
    const fair = cAtTheLessonsChecksum(report, row.c!.mibPerSecond.median);
    const fairRatio = fair === null ? null : row.mibPerSecond.median / fair;
    if (fairRatio !== null && fairRatio < 0.8) deciding.push("checksum");
    if (unpinned && row.chunk <= WAIT_BOUND_CHUNK) deciding.push("wait");
    const shaping: (keyof typeof NOTE)[] = row.method in TUNED_FOR_THE_LESSONS_ONLY
      ? ["tuned"]
      : [];
    rows.push([
      `${row.method} channel, ${size(row.chunk)}`,
      "≥ 0.80 × C",
      n2(ratio),
      fairRatio === null ? "–" : n2(fairRatio),
      verdict(ratio >= 0.8, deciding, shaping),
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
        "–",
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
      "–",
      verdict(ratio <= 1.5, unpinned ? ["wait"] : [], []),
    ]);
  }
  const notes: string[] = [];
  if (report.baseline.c !== undefined) {
    notes.push(
      `${NOTE.checksum} The receivers check different checksums: the lessons' CRC-32 ran at ${
        n0(report.baseline.checksumMiBPerSecond)
      } MiB/s alone, C's own at ${
        n0(report.baseline.c.checksum)
      }. "C checking at our cost" is the ratio had C's receiver paid the lessons' checksum time instead of its own (all of it on the critical path: a bound, unless pinned). Where that ratio misses the target and the measured one meets it, the checksums decide the cell, not the channels: not comparable.`,
    );
  }
  if (used.has("wait")) {
    notes.push(
      `${NOTE.wait} Not pinned: the lessons' waits poll for 20 µs before they sleep (\`SPIN_US\`), C sleeps at once and pays a halted vCPU's wake-up. On chunks of ${
        size(WAIT_BOUND_CHUNK)
      } and less, and on round trips, that policy can decide the cell; a run with \`--pin same\` compares the mechanisms.`,
    );
  }
  if (used.has("tuned")) {
    notes.push(
      `${NOTE.tuned} Set up differently: ${
        Object.entries(TUNED_FOR_THE_LESSONS_ONLY).map(([method, text]) => `${method}: ${text}`)
          .join("; ")
      }.`,
    );
  }
  notes.push(
    "A difference favours the lessons each time, so a miss stands; a cell it decides that would be met is not comparable.",
  );
  const header = ["measure", "target", "measured", "C checking at our cost ¹", ""];
  return { table: table(header, rows), notes };
}

/** How the lessons' side and C's are measured alike, and where they differ (this run's figures). */
function differencesFromC(report: BenchReport): string[] {
  const base = report.baseline;
  const pinned = report.settings.pin === "same";
  return [
    "- Alike: the sizes, chunks and messages; a ring's slots (one chunk each, 1 MiB in all); pipes raised to pipe-max-size; the runs interleaved; the sender's data, as large as the transfer, made before the clock starts and read once (so it comes from memory, not the CPU's cache); a pipe's clock starts once the receiver is ready, as C's does.",
    `- The receivers' checksums differ: the lessons' native CRC-32 (${
      n0(base.checksumMiBPerSecond)
    } MiB/s alone here) against C's own${
      base.c ? ` (${n0(base.c.checksum)} MiB/s)` : ""
    }: where the receiver is the bottleneck, part of a ratio is the checksums' (see the targets' "C checking at our cost").`,
    pinned
      ? "- The waits differ: the lessons poll for 20 µs before they sleep, C sleeps at once; here both processes shared CPU 0, so neither could gain by polling."
      : "- The waits differ: the lessons poll for 20 µs before they sleep, C sleeps at once. Not pinned, on this kind of virtual machine, that gives the lessons small-message throughput and round trips that C's wake-ups cost it: run with `--pin same` to compare the mechanisms.",
    ...Object.entries(TUNED_FOR_THE_LESSONS_ONLY).map(([method, text]) =>
      `- Set up differently, ${method}: ${text}.`
    ),
    `- A named channel's clock (all but the pipe) starts when the receiver's open returns, C's once its child says it is ready: a sender whose open returns first may have filled the channel by then, at most what it holds (a ring: 1 MiB, ${
      (100 * MiB / report.settings.size).toFixed(1)
    } % of this run's ${size(report.settings.size)}).`,
    "- The sender's peak memory includes its data, as large as the transfer (C's does too).",
  ];
}

function baselineLines(report: BenchReport): string {
  const base = report.baseline;
  const c = base.c ? ` (C: ${n0(base.c.memcpy)})` : "";
  const cSum = base.c ? ` (C's own checksum: ${n0(base.c.checksum)})` : "";
  return [
    `- single-process copy of ${
      size(report.settings.size)
    } in 64 KiB pieces, out of a buffer of that size: ${
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
    `\nThroughput: ${size(report.settings.size)} per run, ${
      medianOf(report.settings.runs, "interleaved run")
    }`,
  );
  console.log(throughputTable(report.throughput));
  console.log(
    `\nLatency: round trips, ${medianOf(report.settings.latencyRuns)} of ${
      runsOf(report.settings.iterations, "round trip")
    }`,
  );
  console.log(latencyTable(report.latency));
  console.log("\nBaselines:");
  console.log(baselineLines(report));
  if (report.throughput.some((row) => row.c)) {
    const { table, notes } = targets(report);
    console.log("\nHow the lessons and C are measured alike, and where they differ:");
    console.log(differencesFromC(report).join("\n"));
    console.log("\nTargets:");
    console.log(table);
    console.log(notes.join("\n"));
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
the IPC alone). *file*: file → channel → file, the lesson's demo itself. ${
    capitalised(medianOf(report.settings.runs, "interleaved run"))
  }; CPU time per GiB for each process (the sender, and the receiver); peak resident memory.

${throughputTable(report.throughput)}

## Latency

Ping-pong round trips (one channel each way), median and 99th percentile, ${
    medianOf(report.settings.latencyRuns)
  } of
${runsOf(report.settings.iterations, "round trip")}.
${latencyNote(report)}

${latencyTable(report.latency)}

## Baselines

${baselineLines(report)}
${report.throughput.some((row) => row.c) ? cSections(report) : ""}`;
}

/** The report's sections about C: how the two sides differ, and the targets. */
function cSections(report: BenchReport): string {
  const { table, notes } = targets(report);
  return `
## The lessons and C: alike, and different

${differencesFromC(report).join("\n")}

## Targets

${table}

${notes.join("\n\n")}
`;
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
