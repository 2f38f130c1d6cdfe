/**
 * The house rules for imports, checked by `deno task check`:
 *
 * 1. no import circles: no module reaches itself through its imports (type-only imports count:
 *    a circle of types is still a circle a reader must untangle);
 * 2. layers only point down: `transports/` imports nothing from `lessons/`, `bench/`,
 *    `assignments/` or `tests/`; `bench/` imports no lesson code (it measures channels; it may
 *    start lessons as programs); `lessons/` and `bench/` import only the public files of
 *    `transports/` (no `transports/_*.ts`); nothing but tests imports from `tests/`.
 *
 * The module graph comes from Deno itself (`deno info --json`), so it is the graph the runtime
 * loads, not a guess from regular expressions.
 *
 *     deno run --allow-read --allow-run --allow-write --allow-env .ci/check_imports.ts
 *
 * @module
 */

import { relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const SKIP = new Set([".git", "node_modules", "results"]);

/** Every TypeScript file of the project, relative to its root. */
function sourceFiles(dir = ROOT): string[] {
  const files: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    if (SKIP.has(entry.name)) continue;
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...sourceFiles(path));
    else if (entry.isFile && entry.name.endsWith(".ts")) files.push(relative(ROOT, path));
  }
  return files.sort();
}

interface DenoInfo {
  modules: {
    specifier: string;
    dependencies?: {
      specifier: string;
      code?: { specifier?: string };
      type?: { specifier?: string };
    }[];
  }[];
}

/** The local import graph: file → the local files it imports. */
function importGraph(files: string[]): Map<string, Set<string>> {
  // One root that imports every file, so one `deno info` sees the whole graph.
  const root = Deno.makeTempFileSync({ suffix: ".ts" });
  try {
    Deno.writeTextFileSync(
      root,
      files.map((file) => `import ${JSON.stringify(pathToFileURL(resolve(ROOT, file)).href)};`)
        .join("\n"),
    );
    const output = new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", root],
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    if (!output.success) throw new Error(new TextDecoder().decode(output.stderr));
    const info = JSON.parse(new TextDecoder().decode(output.stdout)) as DenoInfo;
    const local = (specifier?: string) =>
      specifier?.startsWith("file://") && fileURLToPath(specifier).startsWith(ROOT + "/")
        ? relative(ROOT, fileURLToPath(specifier))
        : null;
    const graph = new Map<string, Set<string>>();
    for (const module of info.modules) {
      const from = local(module.specifier);
      if (from === null || !files.includes(from)) continue;
      const to = new Set<string>();
      for (const dependency of module.dependencies ?? []) {
        for (const target of [dependency.code?.specifier, dependency.type?.specifier]) {
          const file = local(target);
          if (file !== null) to.add(file);
        }
      }
      graph.set(from, to);
    }
    return graph;
  } finally {
    Deno.removeSync(root);
  }
}

/** The import circles: strongly connected components of more than one module (Tarjan). */
export function circles(graph: Map<string, Set<string>>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    index.set(node, counter);
    low.set(node, counter++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || graph.get(node)?.has(node)) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

/** Why `from` may not import `to`, or null when it may. */
export function layerViolation(from: string, to: string): string | null {
  const top = (file: string) => file.split("/")[0]!;
  const privateTransport = to.startsWith("transports/_");
  if (
    top(from) === "transports" && ["lessons", "bench", "assignments", "tests"].includes(top(to))
  ) {
    return "a transport knows no lesson, benchmark or test";
  }
  // The registry is data (it imports nothing): the benchmark may read which lessons exist.
  if (top(from) === "bench" && top(to) === "lessons" && to !== "lessons/registry.ts") {
    return "the benchmark measures channels: it may start lessons, not import them";
  }
  if (["lessons", "bench", "assignments"].includes(top(from)) && privateTransport) {
    return "only transports use transports' private files";
  }
  if (top(from) !== "tests" && top(to) === "tests") return "only tests import tests' files";
  return null;
}

if (import.meta.main) {
  const graph = importGraph(sourceFiles());
  const problems: string[] = [];
  for (const circle of circles(graph)) problems.push(`import circle: ${circle.join(" → ")}`);
  for (const [from, targets] of graph) {
    for (const to of targets) {
      const why = layerViolation(from, to);
      if (why !== null) problems.push(`${from} imports ${to}: ${why}`);
    }
  }
  for (const problem of problems) console.error(problem);
  console.error(
    problems.length === 0
      ? `imports: ${graph.size} modules, no circles, layers point down`
      : `imports: ${problems.length} problem(s)`,
  );
  Deno.exit(problems.length === 0 ? 0 : 1);
}
