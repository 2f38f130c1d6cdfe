/**
 * Unit tests of errno names and messages (libc.ts): each name has the number this system gives
 * it, each number its name, strerror the C library's message, and a LibcError says all three.
 */

import assert from "node:assert/strict";
import { constants } from "node:os";
import { Errno, errnoName, LibcError, strerror, unlink } from "./libc.ts";

Deno.test("errno: every name has this system's number, and each number its one name", () => {
  const system: Record<string, number | undefined> = constants.errno;
  for (const [name, number] of Object.entries(Errno)) {
    // Node's table lacks a few (ENOPKG): those are checked by their message below.
    if (system[name] !== undefined) assert.equal(number, system[name], name);
    assert.equal(errnoName(number), name);
  }
  assert.equal(
    new Set(Object.values(Errno)).size,
    Object.keys(Errno).length,
    "two names, one number",
  );
  assert.equal(errnoName(4095), "errno 4095", "a number without a name is still shown");
});

Deno.test("errno: strerror gives the C library's message, by number or by name", () => {
  assert.equal(strerror(Errno.ENOENT), "No such file or directory");
  assert.equal(strerror("EEXIST"), "File exists");
  assert.equal(strerror("EAGAIN"), "Resource temporarily unavailable");
  assert.equal(strerror("ENOPKG"), "Package not installed");
  assert.equal(strerror("EMSGSIZE"), "Message too long");
  assert.equal(strerror("NOT_AN_ERRNO"), "NOT_AN_ERRNO", "an unknown name is given back");
  for (const number of Object.values(Errno)) {
    assert.doesNotMatch(strerror(number), /^Unknown error/, errnoName(number));
  }
});

Deno.test("errno: a LibcError names the call, the errno and the message", () => {
  assert.throws(() => unlink("/no/such/file"), (thrown) => {
    assert.ok(thrown instanceof LibcError);
    assert.equal(thrown.call, "unlink");
    assert.equal(thrown.code, "ENOENT");
    assert.equal(thrown.errno, Errno.ENOENT);
    assert.equal(thrown.description, "No such file or directory");
    assert.equal(thrown.message, "unlink failed: ENOENT (No such file or directory)");
    assert.equal(thrown.name, "LibcError");
    return true;
  });
  const lost = new LibcError("mq_open", Errno.ENOTTY, 2);
  assert.equal(lost.code, "ERRNO_LOST");
  assert.equal(lost.errno, 0, "never mistaken for a real errno");
  assert.equal(
    lost.message,
    "mq_open failed: errno was lost (it held ENOTTY, which mq_open cannot fail with; tried twice)",
  );
});
