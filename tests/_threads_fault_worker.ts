/**
 * A thread of `tests/_threads_fault.ts`: fails as `THREADS_FAULT` says when its role (the
 * Worker's name) is the one named, and otherwise runs the lesson's own thread program.
 *
 * @module
 */

const scope = globalThis as unknown as {
  name: string;
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent) => void) | null;
};
const [stage, role] = (Deno.env.get("THREADS_FAULT") ?? "").split(":");

if (role !== scope.name) {
  await import("../lessons/threads/thread.ts");
} else if (stage === "load") {
  throw new Error(`the ${role} thread fails as it loads`);
} else if (stage === "run") {
  scope.onmessage = () => {
    throw new Error(`the ${role} thread fails when given its channel`);
  };
  scope.postMessage({ kind: "ready", tid: 1 });
}
// silent: loads, and says nothing.
