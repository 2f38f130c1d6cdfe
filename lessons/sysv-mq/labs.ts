/**
 * Break-it labs of the System V queue lesson:
 *
 *     deno task lesson:sysv-mq --break no-rmid
 *     deno task lesson:sysv-mq --break wrong-type
 *     deno task lesson:sysv-mq --break key-collision
 *
 * @module
 */

import { basename, join } from "node:path";
import * as libc from "../../transports/libc.ts";
import { findLeftovers } from "../../transports/leftovers.ts";
import { formatKey, SysvQueue, sysvQueueLeftovers, sysvQueueOf } from "../../transports/sysv_mq.ts";
import type { Lab, LabContext } from "../_labs.ts";

/** How long the wrong-type lab's receiver waits before it gives up, in ms. */
const WRONG_TYPE_WAIT_MS = 1000;

/**
 * A key file in the lab's folder, and its key (`ftok(path, proj)`). Named like a run's key file
 * (`ipc-lesson-sysv-mq-….key`) and held open until the lab ends, as the server holds its own:
 * so `deno task clean` knows the queue for the lessons' own, and in use while the lab runs.
 */
function labKey(
  lab: LabContext,
  name: string,
  proj: number,
): { path: string; key: number } & Disposable {
  const path = join(lab.dir, `ipc-lesson-sysv-mq-${name}`);
  const file = Deno.openSync(path, { createNew: true, write: true, mode: 0o600 });
  let open = true;
  const close = () => {
    if (open) file.close();
    open = false;
  };
  return { path, key: libc.ftok(path, proj), [Symbol.dispose]: close };
}

/** Removes the queue of `key` if one is left (however the lab ended), for `using`. */
function removedAtEnd(key: number): Disposable {
  return {
    [Symbol.dispose]() {
      const info = sysvQueueOf(key);
      if (info !== null) libc.msgctl(info.msqid, libc.IPC.RMID);
    },
  };
}

/** Shows the `ipcs -q` line of the queue `msqid`, as a student would see it. */
function showIpcs(lab: LabContext, msqid: number): boolean {
  const lines = libc.sysvipcLines("msg", msqid);
  if (lines === null) return false;
  lab.say("cat /proc/sysvipc/msg:");
  lab.say(`  ${lines[0]}`);
  lab.say(`  ${lines[1]}`);
  return true;
}

/** The lesson's labs. */
export const labs: Lab[] = [
  {
    name: "no-rmid",
    summary: "a program exits without msgctl(IPC_RMID): its queue, and the message in it, stay",
    explanation: {
      cause:
        "a System V queue is not a file and has no descriptor: exit() closes nothing that belongs to it, and it has no name to unlink. It lives in the kernel until some process calls msgctl(id, IPC_RMID), or the machine reboots, messages and all. A program killed before its IPC_RMID (or one that forgot it) leaves it behind; the next run that asks msgget(IPC_CREAT) for the same key gets this old queue, with the old messages in it.",
      fix:
        "remove what you create: msgctl(id, IPC_RMID, NULL) on every way out (after the peer has taken everything, on errors, in a SIGINT/SIGTERM handler). Create with IPC_CREAT | IPC_EXCL so that a leftover is refused, not reused. Find leftovers with ipcs -q (or /proc/sysvipc/msg) and remove them with ipcrm -q ID (or deno task clean 0xKEY). A plain deno task clean removes only the lessons' own: queues of this user whose last sender and receiver have both exited, and whose key a lesson made (ftok of a run's key file, or a key with the top byte 0x1e); it names the others, with the command that removes each.",
    },
    async run(lab) {
      using keyFile = labKey(lab, "no-rmid.key", 1);
      const { path, key } = keyFile;
      using _cleanup = removedAtEnd(key);
      lab.say(
        `1. a program (a separate process) creates a queue for key ${formatKey(key)}, sends ` +
          "one message, and exits without msgctl(IPC_RMID)",
      );
      const libcUrl = new URL("../../transports/libc.ts", import.meta.url).href;
      const program = `import * as libc from ${JSON.stringify(libcUrl)};
const id = libc.msgget(${key}, libc.IPC.CREAT | libc.IPC.EXCL | 0o600);
const m = new libc.MessageBuffer(5); m.mtype = 1; m.text.set(new TextEncoder().encode("hello"));
libc.msgsnd(id, m, 5, libc.IPC.NOWAIT);
console.log(id);`;
      const child = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--quiet", program],
        stdout: "piped",
        stderr: "inherit",
        signal: lab.signal,
      }).output();
      if (!child.success) throw new Error("the lab's program failed");
      lab.say(`the program has exited (status ${child.code})`);

      lab.say("2. look for its queue");
      const info = sysvQueueOf(key);
      if (info === null || !showIpcs(lab, info.msqid)) return false;
      lab.symptom(
        `the queue ${formatKey(key)} (msqid ${info.msqid}) outlived the process that made it: ` +
          `ipcs -q still lists it, with ${info.qnum} message of ${info.cbytes} bytes in it`,
      );

      lab.say(
        "3. deno task clean finds it: this user's, its last sender (msg_lspid " +
          `${info.lspid}) has exited, and its key is ftok of a lesson's key file (${
            basename(path)
          }); it removes it with msgctl(IPC_RMID), as ipcrm -q ${info.msqid} would`,
      );
      keyFile[Symbol.dispose](); // its program has exited: nobody holds the key file now
      const { found } = findLeftovers([sysvQueueLeftovers], {
        prefix: "ipc-lesson-",
        dir: lab.dir,
      });
      const leftover = found.find((object) => object.name === `msqid ${info.msqid}`);
      if (leftover === undefined || leftover.holders.length > 0) return false;
      lab.trace(true);
      leftover.remove();
      lab.trace(false);
      lab.say(`removed: /proc/sysvipc/msg no longer lists msqid ${info.msqid}`);
      return sysvQueueOf(key) === null;
    },
  },
  {
    name: "wrong-type",
    summary: "msgrcv for a type nobody sends waits for ever, though the queue is not empty",
    explanation: {
      cause:
        "msgrcv(id, buf, size, msgtyp, 0) with msgtyp > 0 takes only a message of exactly that type. Messages of other types do not count: the call sleeps as if the queue were empty, and since nobody will ever send that type, for ever. Nothing reports the mistake: ipcs -q shows messages waiting, and the receiver waits beside them. The same happens to a client that waits for type 1 only and so never sees the end-of-file message of type 2.",
      fix:
        "agree on the types in the protocol, and choose with care: msgtyp 0 takes the first message whatever its type (then look at mtype), msgtyp -N the lowest type up to N (a priority scheme), N exactly type N (one queue shared by several clients, each with its own type). And never wait without a limit: IPC_NOWAIT with a deadline, or a timer that interrupts the wait.",
    },
    async run(lab) {
      using keyFile = labKey(lab, "wrong-type.key", 2);
      const { key } = keyFile;
      using queue = SysvQueue.create(key, {
        timeout: WRONG_TYPE_WAIT_MS,
        signal: lab.signal,
        spin: false,
      });
      lab.say(`1. the sender puts one message of type 1 on the queue ${formatKey(key)}`);
      await queue.send(new TextEncoder().encode("data"), 1);
      showIpcs(lab, queue.msqid);
      lab.say(
        `2. the receiver asks for type 3, which nobody sends (here with IPC_NOWAIT and a limit ` +
          `of ${WRONG_TYPE_WAIT_MS / 1000} s; a plain msgrcv would sleep for ever)`,
      );
      lab.trace(true);
      libc.msgrcv(
        queue.msqid,
        new libc.MessageBuffer(queue.msgmax),
        queue.msgmax,
        3,
        libc.IPC.NOWAIT,
      );
      lab.trace(false);
      let waited = false;
      try {
        await queue.receive(3);
      } catch (error) {
        if (!(error instanceof Deno.errors.TimedOut)) throw error;
        waited = true;
      }
      const { qnum } = queue.stat();
      if (!waited || qnum !== 1) return false;
      lab.symptom(
        `msgrcv(msgtyp 3) found nothing for ${WRONG_TYPE_WAIT_MS / 1000} s (ENOMSG each try), ` +
          `though the queue holds ${qnum} message (of type 1): it would wait for ever`,
      );
      lab.say("3. with msgtyp -3 (the lowest type up to 3) the same message is taken at once");
      lab.trace(true);
      const text = await queue.receive(-3);
      lab.trace(false);
      lab.say(`received ${JSON.stringify(new TextDecoder().decode(text))}, type ${queue.lastType}`);
      return true;
    },
  },
  {
    name: "key-collision",
    summary: "two programs ftok() the same file and project id: they share one queue, and messages",
    explanation: {
      cause:
        "ftok() is a hash, not a name: the same file and project id always give the same key, and programs that happen to pick the same file (a config file, /tmp, their own executable) and the same id collide. msgget(key, IPC_CREAT | 0600) then quietly returns the queue the other program made, and each takes the other's messages: nothing fails, data just goes missing. Keys can even collide for different files, since ftok keeps only 16 bits of the inode number and 8 of the device.",
      fix:
        "create with IPC_CREAT | IPC_EXCL, so a key that is taken fails with EEXIST instead of being shared; give each program (or run) its own file or project id; or use IPC_PRIVATE and pass the msqid to the peer (through fork, a file, a pipe). This lesson makes a key file per run and creates exclusively.",
    },
    run(lab) {
      using keyFile = labKey(lab, "shared.key", 7);
      const { path, key } = keyFile;
      using _cleanup = removedAtEnd(key);
      lab.say(
        `1. program A: ftok("${path}", 7) = ${
          formatKey(key)
        }, creates its queue, sends a message for its client`,
      );
      lab.trace(true);
      const idA = libc.msgget(libc.ftok(path, 7), libc.IPC.CREAT | 0o600);
      const message = new libc.MessageBuffer(64);
      message.mtype = 1;
      const secret = new TextEncoder().encode("for A's client only");
      message.text.set(secret);
      libc.msgsnd(idA, message, secret.length, libc.IPC.NOWAIT);
      lab.say("2. program B picks the same file and project id, and asks without IPC_EXCL");
      const idB = libc.msgget(libc.ftok(path, 7), libc.IPC.CREAT | 0o600);
      const received = new libc.MessageBuffer(64);
      const n = libc.msgrcv(idB, received, 64, 0, libc.IPC.NOWAIT);
      lab.trace(false);
      if (idA !== idB || n === libc.WOULD_BLOCK) return Promise.resolve(false);
      lab.symptom(
        `program B got program A's queue (msqid ${idB} both) and took A's message: ` +
          `${JSON.stringify(new TextDecoder().decode(received.text.subarray(0, n)))}`,
      );
      lab.say(
        "3. with IPC_EXCL, B's msgget fails with EEXIST instead; another project id gives another key",
      );
      lab.trace(true);
      try {
        libc.msgget(key, libc.IPC.CREAT | libc.IPC.EXCL | 0o600);
      } catch (error) {
        if (!(error instanceof libc.LibcError && error.code === "EEXIST")) throw error;
      }
      const other = libc.ftok(path, 8);
      lab.trace(false);
      lab.say(`ftok("${path}", 8) = ${formatKey(other)}: a different key`);
      libc.msgctl(idA, libc.IPC.RMID);
      return Promise.resolve(other !== key);
    },
  },
];
