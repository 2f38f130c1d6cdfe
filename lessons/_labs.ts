/**
 * Break-it labs: `deno task lesson:<method> --break <lab>` makes one classic mistake with real
 * system calls, shows the symptom, then explains the cause and the fix.
 *
 * A lab is a short narrated program. It must end within seconds (every wait has a timeout),
 * leave nothing behind, and report whether the symptom really happened: the lab's exit status
 * is 0 when it did, 1 when the mistake unexpectedly went unpunished.
 *
 * @module
 */

import { close, O, open, traceCalls } from "../transports/libc.ts";
import { LessonError } from "./_files.ts";
import { tempDir } from "./_lesson.ts";
import { formatLine, stderrHasColor, writeStderr } from "./_log.ts";
import { describeError, STOP_SIGNALS } from "./_side.ts";

/** What a lab can do: narrate its steps and clean up after itself. */
export interface LabContext {
  /** A folder of its own, in the temporary directory, removed at the end. */
  readonly dir: string;
  /** A step of the story. */
  say(text: string): void;
  /** Every system call from now on is shown (for the part that makes the mistake). */
  trace(on: boolean): void;
  /** The symptom, as seen: the line the lab's test looks for. */
  symptom(text: string): void;
  /** Registers something to remove at the end, and on Ctrl-C. Returns it. */
  own<T extends Disposable>(resource: T): T;
}

/** One lab. */
export interface Lab {
  /** The name after `--break`. */
  name: string;
  /** What happens, in one line. */
  summary: string;
  /** Why it happens and how to avoid it: printed after the symptom. */
  explanation: { cause: string; fix: string };
  /** Makes the mistake; resolves to true when the symptom was seen. */
  run(lab: LabContext): Promise<boolean>;
}

/** The `--break list` text. */
export function listLabs(method: string, labs: Lab[]): string {
  if (labs.length === 0) return `the ${method} lesson has no labs yet\n`;
  const width = Math.max(...labs.map((lab) => lab.name.length));
  return [
    `break-it labs of the ${method} lesson (deno task lesson:${method} --break NAME):`,
    ...labs.map((lab) => `  ${lab.name.padEnd(width)}  ${lab.summary}`),
    "",
  ].join("\n");
}

/** Runs the lab called `name`; resolves to the exit status. */
export async function runLab(method: string, labs: Lab[], name: string): Promise<number> {
  const lab = labs.find((candidate) => candidate.name === name);
  if (!lab) {
    throw new LessonError(
      `the ${method} lesson has no lab ${JSON.stringify(name)}; --break list shows its labs`,
    );
  }
  const color = stderrHasColor();
  const print = (text: string, kind?: "say" | "trace" | "error") =>
    writeStderr(formatLine("lab", Deno.pid, text, { color, kind }));
  const owned: Disposable[] = [];
  const dir = Deno.makeTempDirSync({ dir: tempDir(), prefix: "ipc-lesson-lab-" });
  // Hold the folder for the lab's whole life (O_PATH: a name only, no reading): deno task clean
  // sees a folder that a live process holds as in use, and leaves it alone.
  const dirHandle = open(dir, O.PATH | O.CLOEXEC);
  const cleanUp = () => {
    traceCalls(null);
    close(dirHandle);
    for (const resource of owned.splice(0).reverse()) {
      try {
        resource[Symbol.dispose]();
      } catch { /* best effort */ }
    }
    Deno.removeSync(dir, { recursive: true });
  };
  for (const [signal, status] of STOP_SIGNALS) {
    Deno.addSignalListener(signal, () => {
      cleanUp();
      print(`interrupted by ${signal}; removed what the lab created`, "error");
      Deno.exit(status);
    });
  }

  const context: LabContext = {
    dir,
    say: (text) => print(text),
    trace: (on) => traceCalls(on ? (line) => print(line, "trace") : null),
    symptom: (text) => print(`SYMPTOM: ${text}`),
    own: (resource) => {
      owned.push(resource);
      return resource;
    },
  };
  print(`lab ${lab.name}: ${lab.summary}`);
  let seen: boolean;
  try {
    seen = await lab.run(context);
  } catch (error) {
    cleanUp();
    print(describeError(error).message, "error");
    return 1;
  }
  cleanUp();
  if (!seen) {
    print("the mistake did not show its symptom this time; run the lab again", "error");
    return 1;
  }
  print(`CAUSE: ${lab.explanation.cause}`);
  print(`FIX: ${lab.explanation.fix}`);
  return 0;
}
