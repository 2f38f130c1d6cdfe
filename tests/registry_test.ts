/**
 * The lesson registry (lessons/registry.ts) is the one list of lessons: the tests, the benchmark
 * and `deno task clean` iterate it. So every lesson in it must really be there, with its task,
 * its row in README's course map, and its own test file running the tests every lesson runs;
 * and no lesson may exist outside it.
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { LESSONS, METHODS } from "../lessons/registry.ts";
import { ROOT } from "./_helpers.ts";

const config = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json")));
const readme = Deno.readTextFileSync(join(ROOT, "README.md"));

Deno.test("registry: each lesson's program, transport, folder and task are there", () => {
  assert.deepEqual(new Set(METHODS).size, LESSONS.length, "a method is listed twice");
  for (const lesson of LESSONS) {
    for (const file of [lesson.main, lesson.transport, `lessons/${lesson.method}/README.md`]) {
      assert.ok(existsSync(join(ROOT, file)), `${lesson.method}: ${file} is missing`);
    }
    assert.equal(
      config.tasks[`lesson:${lesson.method}`],
      `deno run --allow-all ${lesson.main}`,
      `deno.json: the task lesson:${lesson.method}`,
    );
  }
  const tasks = Object.keys(config.tasks).filter((task) => task.startsWith("lesson:"));
  assert.deepEqual(tasks.sort(), METHODS.map((method) => `lesson:${method}`).sort());
  const folders = [...Deno.readDirSync(join(ROOT, "lessons"))]
    .filter((entry) => entry.isDirectory).map((entry) => entry.name);
  assert.deepEqual(folders.sort(), [...METHODS].sort(), "a lesson folder not in the registry");
});

Deno.test("registry: README's course map has a row for each lesson, in course order", () => {
  const rows = [
    ...readme.matchAll(
      /^\| \[.*?\]\(lessons\/(\w[\w-]*)\/README\.md\) +\| `deno task lesson:(\S+)`/gm,
    ),
  ];
  assert.deepEqual(rows.map((row) => row[1]), [...METHODS]);
  assert.deepEqual(rows.map((row) => row[2]), [...METHODS]);
});

Deno.test("registry: each lesson's test file runs the transfers, bad inputs and labs", () => {
  for (const method of METHODS) {
    // snake_case file names: the tests of lesson:sysv-mq are tests/sysv_mq_test.ts.
    const name = `${method.replaceAll("-", "_")}_test.ts`;
    const file = join(ROOT, "tests", name);
    assert.ok(existsSync(file), `tests/${name} is missing`);
    const text = Deno.readTextFileSync(file);
    for (const suite of ["testTransfers", "testBadInputs", "testLabs"]) {
      assert.ok(text.includes(`${suite}("${method}"`), `tests/${name}: no ${suite}`);
    }
  }
});
