/**
 * The assignments, one line each: the grader, the export and the tests iterate it.
 *
 * @module
 */

import { assignment as fifoClient } from "./fifo-client/assignment.ts";
import { assignment as mqServer } from "./mq-server/assignment.ts";
import { assignment as shmConsumer } from "./shm-consumer/assignment.ts";
import { assignment as tcpServer } from "./tcp-server/assignment.ts";
import { assignment as sysvMqClient } from "./sysv-mq-client/assignment.ts";
import type { Assignment } from "./_grader.ts";

/** Every assignment, in the order of the course. */
export const ASSIGNMENTS: readonly Assignment[] = [
  fifoClient,
  mqServer,
  shmConsumer,
  tcpServer,
  sysvMqClient,
];
