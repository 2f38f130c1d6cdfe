/**
 * The benchmark chart: no text runs past the SVG's right edge, where a viewer cuts it off.
 *
 * No browser is at hand to render the chart, so the check is geometric: every line of text
 * starts at its x and is as wide as its characters at 0.6 em each, a conservative width for a
 * sans-serif font (its average character is about 0.5 em), and 0.65 em when bold.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type BenchReport, chartSvg } from "../bench/_report.ts";
import { ROOT } from "./_helpers.ts";

const KiB = 1024;

/** A line of text as drawn: where it starts, its font size and weight, and its characters. */
interface TextLine {
  x: number;
  fontSize: number;
  bold: boolean;
  text: string;
}

/** An attribute of an SVG tag, or undefined. */
function attribute(tag: string, name: string): string | undefined {
  return new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];
}

/** Every line of text in `svg`: a <text>, or each <tspan> of one (drawn at its own x). */
function textLines(svg: string): TextLine[] {
  const lines: TextLine[] = [];
  for (const [, tag = "", body = ""] of svg.matchAll(/(<text\b[^>]*>)(.*?)<\/text>/gs)) {
    const x = Number(attribute(tag, "x") ?? 0);
    const fontSize = Number(attribute(tag, "font-size"));
    const bold = attribute(tag, "font-weight") === "bold";
    assert.ok(fontSize > 0, `a <text> without a font size: ${tag}`);
    const spans = [...body.matchAll(/(<tspan\b[^>]*>)(.*?)<\/tspan>/gs)];
    if (spans.length === 0) {
      assert.doesNotMatch(body, /</, `markup inside a <text>: ${body}`);
      lines.push({ x, fontSize, bold, text: body });
    }
    for (const [, span = "", text = ""] of spans) {
      lines.push({ x: Number(attribute(span, "x") ?? x), fontSize, bold, text });
    }
  }
  return lines;
}

/** The lines of text that run past the SVG's width (from its width attribute and viewBox). */
function cutLines(svg: string): string[] {
  const root = /<svg\b[^>]*>/.exec(svg)?.[0] ?? "";
  const width = Number(attribute(root, "width"));
  assert.ok(width > 0, `no width on <svg>: ${root}`);
  const viewBox = attribute(root, "viewBox")?.split(/[\s,]+/).map(Number);
  const right = viewBox ? Math.min(width, viewBox[0]! + viewBox[2]!) : width;
  const lines = textLines(svg);
  assert.ok(lines.length > 0, "no text in the chart");
  return lines
    .filter((line) => {
      const em = line.bold ? 0.65 : 0.6;
      return line.x < 0 || line.x + [...line.text].length * em * line.fontSize > right;
    })
    .map((line) => `"${line.text}" at x=${line.x}`);
}

/** A report with long labels and machine names, and the real footnote (not pinned). */
function sampleReport(pin: string): BenchReport {
  const methods = ["pipe", "fifo", "mq", "shm", "longer-method"];
  return {
    date: "2026-11-27T03:14:00.000Z",
    machine: {
      cpu: "AMD EPYC 9B14 96-Core Processor with a rather long model name",
      cpus: 128,
      kernel: "6.18.44-fc-v669-some-distribution-build-with-a-long-suffix",
      deno: "2.9.6",
    },
    settings: { size: 256 * 1024 * KiB, runs: 5, latencyRuns: 3, iterations: 10000, pin },
    throughput: methods.map((method, i) => ({
      method,
      mode: "channel" as const,
      chunk: 1024 * KiB,
      bytes: 256 * 1024 * KiB,
      runs: 5,
      mibPerSecond: { median: 12345.6 * (i + 1), min: 1, max: 99999 },
      cpuSecondsPerGiB: { server: 0.5, client: 0.5 },
      peakRssBytes: { server: 60e6, client: 60e6 },
      c: { mibPerSecond: { median: 98765.4, min: 1, max: 99999 }, chunkUsed: 1024 * KiB },
    })),
    latency: methods.map((method, i) => ({
      method,
      messageSize: 64,
      iterations: 10000,
      roundTripMicros: { median: 1234.5 * (i + 1), p99: 9999 },
      c: { roundTripMicros: { median: 8888.8, p99: 9999 } },
    })),
    baseline: { memcpyMiBPerSecond: 30000, checksumMiBPerSecond: 8000 },
  };
}

Deno.test("chart: the check sees text that runs past the right edge", () => {
  const svg = '<svg width="100" height="20"><text x="10" y="15" font-size="10">' +
    "sixteen chars!!!</text></svg>";
  assert.deepEqual(cutLines(svg), ['"sixteen chars!!!" at x=10']);
  const spans = '<svg width="100" height="30"><text x="10" y="15" font-size="10">' +
    '<tspan x="10" dy="0">short</tspan><tspan x="50" dy="12">much too long</tspan></text></svg>';
  assert.deepEqual(cutLines(spans), ['"much too long" at x=50']);
});

Deno.test("chart: every line of a chart with long labels stays inside it", () => {
  for (const pin of ["none", "same"]) {
    const svg = chartSvg(sampleReport(pin));
    assert.deepEqual(cutLines(svg), [], `pin ${pin}`);
    assert.match(svg, /longer-method \(1 MiB\)/);
    assert.match(svg, /rather long model name/);
  }
  // The real footnote needs more than one line at the right panel's x.
  const notPinned = chartSvg(sampleReport("none"));
  assert.match(notPinned, /<tspan x="450" dy="12">/);
  assert.match(notPinned, /not pinned: C sleeps at once/);
  assert.match(notPinned, /the lessons poll 20\u00a0µs first<\/tspan>/);
});

Deno.test("chart: a lesson measured in file mode only (threads, its variants) gets a file bar", () => {
  // `deno task bench` used to crash here: the threads lesson has no channel-mode row, and no
  // latency row, only its demo's file rows ("threads", "threads --model message").
  const report = sampleReport("none");
  for (const method of ["threads", "threads --model message"]) {
    report.throughput.push({
      ...report.throughput[0]!,
      method,
      mode: "file",
      chunk: 64 * KiB,
      c: undefined,
    });
  }
  const svg = chartSvg(report);
  assert.match(svg, />threads \(file, 64 KiB\)</);
  assert.match(svg, />threads --model message \(file, 64 KiB\)</);
  assert.deepEqual(cutLines(svg), []);
  // No round trip was measured for them: no latency bar (and no "0.0 µs").
  assert.doesNotMatch(svg, />threads</);
  assert.doesNotMatch(svg, / 0\.0 µs</);
});

Deno.test("chart: the committed bench/results/chart.svg has no text cut off", () => {
  const svg = Deno.readTextFileSync(join(ROOT, "bench", "results", "chart.svg"));
  assert.deepEqual(cutLines(svg), []);
  // And the footnote is all there, not dropped.
  assert.match(svg, /not pinned: C sleeps at once/);
  assert.match(svg, /the lessons poll 20\u00a0µs first/);
});
