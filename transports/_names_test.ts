/**
 * Unit tests of POSIX IPC names (_names.ts, and the rule each transport adds): a slash and one
 * file-name component of at most NAME_MAX bytes, less what the C library puts in front.
 */

import assert from "node:assert/strict";
import { NAME_MAX, posixNameProblem } from "./_names.ts";
import { queueNameProblem } from "./mq.ts";
import { semaphoreNameProblem } from "./semaphore.ts";
import { shmNameProblem } from "./shm.ts";

Deno.test("names: a slash, then one component that is not . or .., with no NUL", () => {
  assert.equal(posixNameProblem("/ring", NAME_MAX), null);
  assert.equal(posixNameProblem("/ipc-lesson-shm-4711-3f9a2c", NAME_MAX), null);
  assert.equal(posixNameProblem("/ünïcode ok", NAME_MAX), null);
  const problems: [string, string][] = [
    ["ring", "must start with a slash, like /ring"],
    ["", "must start with a slash, like /my-ring"],
    ["/", "needs a name after the slash"],
    ["/a/b", "must not contain a second slash: a POSIX IPC name is a single component"],
    ["//", "must not contain a second slash: a POSIX IPC name is a single component"],
    ["/.", 'cannot be "/."'],
    ["/..", 'cannot be "/.."'],
    ["/a\0b", "must not contain a NUL byte"],
  ];
  for (const [name, problem] of problems) {
    assert.equal(posixNameProblem(name, NAME_MAX), problem, JSON.stringify(name));
  }
});

Deno.test("names: the length is counted in bytes, not characters", () => {
  assert.equal(posixNameProblem(`/${"x".repeat(255)}`, 255), null);
  assert.equal(
    posixNameProblem(`/${"x".repeat(256)}`, 255),
    "is too long: 256 bytes after the slash, at most 255",
  );
  // "é" is two bytes in UTF-8: 128 of them are 256 bytes.
  assert.equal(
    posixNameProblem(`/${"é".repeat(128)}`, 255),
    "is too long: 256 bytes after the slash, at most 255",
  );
});

Deno.test("names: queues and segments get NAME_MAX bytes, semaphores 4 fewer (sem.NAME)", () => {
  const name = (bytes: number) => `/${"x".repeat(bytes)}`;
  for (const problem of [queueNameProblem, shmNameProblem]) {
    assert.equal(problem(name(255)), null);
    assert.match(problem(name(256))!, /^is too long: 256 bytes after the slash, at most 255$/);
    assert.equal(problem("no-slash"), "must start with a slash, like /no-slash");
  }
  assert.equal(semaphoreNameProblem(name(251)), null);
  assert.equal(
    semaphoreNameProblem(name(252)),
    "is too long: 252 bytes after the slash, at most 251 " +
      "(a semaphore shows as /dev/shm/sem.NAME, and a file name has at most 255)",
  );
});
