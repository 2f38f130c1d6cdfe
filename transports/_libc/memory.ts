/**
 * POSIX shared memory, in the order a program uses it: shm_open(3) makes or opens the object,
 * ftruncate(2) gives it a size, posix_fallocate(3) reserves its pages, mmap(2) maps it into
 * this process, munmap(2) removes the mapping, and shm_unlink(3) removes the name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { close, ftruncate, MAP_SHARED, mmap, munmap, O, PROT } from "../libc.ts";
 * import { shm_open, shm_unlink } from "../libc.ts";
 * const name = `/ipc-lesson-example-${Deno.pid}-memory`;
 * const fd = shm_open(name, O.RDWR | O.CREAT | O.EXCL | O.CLOEXEC, 0o600);
 * ftruncate(fd, 4096); // a new object is 0 bytes long: a store into it would raise SIGBUS
 * const address = mmap(4096, PROT.READ | PROT.WRITE, MAP_SHARED, fd);
 * close(fd); // the mapping stays
 * new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(address, 4096))[0] = 42;
 * assert.equal(Deno.readFileSync(`/dev/shm${name}`)[0], 42); // the store is in the object
 * munmap(address, 4096);
 * shm_unlink(name);
 * ```
 *
 * @module
 */

import { check, cstring, failure } from "./call.ts";
import { MAP_SHARED, O, PROT } from "./constants.ts";
import { documented, Errno, errnoCell, errnoName, LibcError, retry, strerror } from "./errno.ts";
import { c } from "./ffi.ts";
import { OPEN_ERRORS, UNLINK_ERRORS } from "./files.ts";
import { octal, openFlags, quote, tracer } from "./trace.ts";

const FTRUNCATE = documented(
  "ftruncate",
  "EACCES EBADF EFAULT EFBIG EINTR EINVAL EIO EISDIR ELOOP ENAMETOOLONG ENOENT ENOTDIR EPERM " +
    "EROFS ETXTBSY",
);

/** `ftruncate(2)`: sets the size of the file (or shared-memory object) behind `fd`. */
export function ftruncate(fd: number, length: number): void {
  const size = BigInt(length);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.ftruncate(fd, size);
    errnum = errnoCell[0]!;
  } while (retry(FTRUNCATE, r === -1, errnum, ++tries));
  check(FTRUNCATE, r, errnum, tries, () => `${fd}, ${length}`);
}

const MMAP = documented(
  "mmap",
  "EACCES EAGAIN EBADF EEXIST EINVAL ENFILE ENODEV ENOMEM EOVERFLOW EPERM ETXTBSY",
);
// MAP_FAILED, (void *) -1.
const MAP_FAILED = 0xffffffffffffffffn;

/**
 * `mmap(2)` of a whole object, shared: returns the address of the mapping.
 *
 * The one call here whose result Deno must allocate before errno can be read: a pointer comes
 * back as an object, and mmap reports failure with the pointer MAP_FAILED, not NULL (which
 * Deno would hand back as `null`, allocating nothing). The check of the documented values
 * still catches a lost errno that mmap cannot fail with; and nothing here decides on mmap's
 * errno, it only words the message.
 */
export function mmap(length: number, prot: number, flags: number, fd: number): Deno.PointerObject {
  const size = BigInt(length);
  let address: Deno.PointerValue, errnum: number, failed: boolean, tries = 0;
  do {
    errnoCell[0] = 0;
    address = c.mmap(null, size, prot, flags, fd, 0n);
    errnum = errnoCell[0]!;
    failed = address === null || Deno.UnsafePointer.value(address) === MAP_FAILED;
  } while (retry(MMAP, failed, errnum, ++tries));
  const protText = [prot & PROT.READ ? "PROT_READ" : "", prot & PROT.WRITE ? "PROT_WRITE" : ""]
    .filter(Boolean).join("|") || "PROT_NONE";
  const args = () =>
    `NULL, ${length}, ${protText}, ${flags & MAP_SHARED ? "MAP_SHARED" : flags}, ${fd}, 0`;
  if (address === null || failed) throw failure(MMAP, errnum, tries, args);
  tracer?.(`mmap(${args()}) = 0x${Deno.UnsafePointer.value(address).toString(16)}`);
  return address;
}

// munmap's errors, from mmap(2)'s list.
const MUNMAP = documented("munmap", "EINVAL ENOMEM");

/** `munmap(2)`: removes a mapping. */
export function munmap(address: Deno.PointerObject, length: number): void {
  const size = BigInt(length);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.munmap(address, size);
    errnum = errnoCell[0]!;
  } while (retry(MUNMAP, r === -1, errnum, ++tries));
  check(
    MUNMAP,
    r,
    errnum,
    tries,
    () => `0x${Deno.UnsafePointer.value(address).toString(16)}, ${length}`,
  );
}

// Listed for the reader: posix_fallocate returns one of these instead of setting errno.
const POSIX_FALLOCATE = documented(
  "posix_fallocate",
  "EBADF EFBIG EINTR EINVAL ENODEV ENOSPC EOPNOTSUPP ESPIPE",
);

/**
 * `posix_fallocate(3)`: reserves the blocks (or, in `/dev/shm`, the pages) for bytes
 * `offset` to `offset + length` of the file at `fd`, so that later writes or stores into a
 * mapping cannot fail for lack of space. Unlike almost every other call here it does not set
 * errno: it returns the error number itself, so nothing can be lost. EINTR (a signal arrived
 * while it worked) is tried again: reserving what is already reserved does no harm.
 */
export function posix_fallocate(fd: number, offset: number, length: number): void {
  const from = BigInt(offset);
  const len = BigInt(length);
  let err: number;
  do err = c.posix_fallocate(fd, from, len); while (err === Errno.EINTR);
  const args = `${fd}, ${offset}, ${length}`;
  if (err !== 0) {
    tracer?.(`posix_fallocate(${args}) = ${errnoName(err)} (${strerror(err)})`);
    throw new LibcError(POSIX_FALLOCATE.name, err);
  }
  tracer?.(`posix_fallocate(${args}) = 0`);
}

// shm_open(3), and open(2)'s errors, which come through it (glibc opens /dev/shm/NAME).
const SHM_OPEN = documented(
  "shm_open",
  `EACCES EEXIST EINVAL EMFILE ENAMETOOLONG ENFILE ENOENT   ${OPEN_ERRORS}`,
);

/** `shm_open(3)`: opens (or creates) a shared-memory object and returns a descriptor for it. */
export function shm_open(name: string, oflag: number, mode = 0): number {
  const cname = cstring(name);
  let fd: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    fd = c.shm_open(cname, oflag, mode);
    errnum = errnoCell[0]!;
  } while (retry(SHM_OPEN, fd === -1, errnum, ++tries));
  return check(
    SHM_OPEN,
    fd,
    errnum,
    tries,
    () => `${quote(name)}, ${openFlags(oflag)}${oflag & O.CREAT ? `, ${octal(mode)}` : ""}`,
  );
}

// shm_unlink(3), and unlink(2)'s errors, which come through it (glibc unlinks /dev/shm/NAME).
const SHM_UNLINK = documented("shm_unlink", `EACCES ENAMETOOLONG ENOENT   ${UNLINK_ERRORS}`);

/** `shm_unlink(3)`: removes a shared-memory object's name (`/dev/shm/NAME`). */
export function shm_unlink(name: string): void {
  const cname = cstring(name);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.shm_unlink(cname);
    errnum = errnoCell[0]!;
  } while (retry(SHM_UNLINK, r === -1, errnum, ++tries));
  check(SHM_UNLINK, r, errnum, tries, () => quote(name));
}
