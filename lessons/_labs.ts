/**
 * Break-it labs: `deno task lesson:<method> --break <lab>` makes one classic mistake with real
 * system calls, shows the symptom, then explains the cause and the fix.
 *
 * A lab is a short narrated program. It must end within seconds (every wait has a timeout),
 * leave nothing behind (its `using` declarations remove what it made, on Ctrl-C too: every
 * wait takes `lab.signal`), and report whether the symptom really happened: the lab's exit
 * status is 0 when it did, 1 when the mistake unexpectedly went unpunished.
 *
 * @module
 */

import { Interrupted } from "../transports/errors.ts";
import { close, O, open, traceCalls } from "../transports/libc.ts";
import { abortOnStopSignals } from "../transports/wait.ts";
import { formatLine, type Kind, stderrHasColor, writeStderr } from "./_log.ts";

/** What a lab can do: narrate its steps, and stop when asked to. */
export interface LabContext {
  /** A folder of its own, in the temporary directory, removed at the end. */
  readonly dir: string;
  /** Aborted by Ctrl-C, SIGTERM or SIGHUP: give it to every wait. */
  readonly signal: AbortSignal;
  /** A step of the story. */
  say(text: string): void;
  /** Every system call from now on is shown (for the part that makes the mistake). */
  trace(on: boolean): void;
  /** The symptom, as seen: the line the lab's test looks for. */
  symptom(text: string): void;
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

/**
 * Runs `lab` in a folder of its own under `tmp`; resolves to the exit status. `describe`
 * words an error as the runner does.
 */
export async function runLab(lab: Lab, tmp: string, describe: (error: unknown) => string) {
  const color = stderrHasColor();
  const print = (text: string, kind?: Kind) =>
    writeStderr(formatLine("lab", Deno.pid, text, { color, kind }));
  const { signal } = abortOnStopSignals(new AbortController());
  const dir = Deno.makeTempDirSync({ dir: tmp, prefix: "ipc-lesson-lab-" });
  // Hold the folder for the lab's whole life (O_PATH: a name only, no reading): deno task clean
  // sees a folder that a live process holds as in use, and leaves it alone.
  const dirHandle = open(dir, O.PATH | O.CLOEXEC);
  let seen: boolean;
  try {
    print(`lab ${lab.name}: ${lab.summary}`);
    const context: LabContext = {
      dir,
      signal,
      say: (text) => print(text),
      trace: (on) => traceCalls(on ? (line) => print(line, "trace") : null),
      symptom: (text) => print(`SYMPTOM: ${text}`),
    };
    seen = await lab.run(context);
  } catch (error) {
    const reason = signal.aborted ? signal.reason : error;
    if (reason instanceof Interrupted) {
      print(`${reason.message}; removed what the lab created`, "error");
      return reason.status;
    }
    print(describe(error), "error");
    return 1;
  } finally {
    traceCalls(null);
    close(dirHandle);
    Deno.removeSync(dir, { recursive: true });
  }
  if (!seen) {
    print("the mistake did not show its symptom this time; run the lab again", "error");
    return 1;
  }
  print(`CAUSE: ${lab.explanation.cause}`);
  print(`FIX: ${lab.explanation.fix}`);
  return 0;
}
