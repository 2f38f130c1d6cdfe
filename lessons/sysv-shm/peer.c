/*
 * peer.c: the sysv-shm lesson's protocol in C, either side, to run against the Deno side.
 *
 *     cc -O2 -o /tmp/sysv-shm-peer lessons/sysv-shm/peer.c
 *     /tmp/sysv-shm-peer server KEY SLOTS SLOT_SIZE < input     (then: deno task lesson:sysv-shm client --key KEY ...)
 *     /tmp/sysv-shm-peer client KEY > output                    (after: deno task lesson:sysv-shm server --key KEY ...)
 *
 * The ring (transports/ring_buffer.ts): a header of 32-bit words, magic "RING" written last,
 * length[N] at byte 32, the 64-bit end_total after it (8-aligned), slots from the next page.
 * The set of the same key: semaphore 0 counts free slots, 1 filled ones. Every claim takes
 * one with SEM_UNDO; every hand-over gives one to the other semaphore and, in the same semop,
 * cancels the claim's undo note ({claimed, +1, SEM_UNDO}, {claimed, -1, 0}).
 *
 * The server removes the set and the segment it created on every way out (errors, the 10 s
 * timeouts, SIGINT, SIGTERM): without IPC_RMID they would stay until the next reboot.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

enum { MAGIC_W, VERSION_W, SLOTS_W, SLOT_SIZE_W, DATA_OFFSET_W, CREATOR_W, ATTACHED_W };
enum { FREE = 0, FILLED = 1 };
#define MAGIC 0x474e4952 /* "RING" in memory, little-endian */
#define PATIENCE_S 10

/* semctl's fourth argument; glibc leaves it to the program to declare (_SEM_SEMUN_UNDEFINED). */
union semun { int val; struct semid_ds *buf; unsigned short *array; };

/* What this process created and has not removed yet, removed on every way out. */
static volatile sig_atomic_t created_sem = -1, created_shm = -1;

static void leave(int status) {
  if (created_shm >= 0) shmctl(created_shm, IPC_RMID, NULL);
  if (created_sem >= 0) semctl(created_sem, 0, IPC_RMID);
  _exit(status);
}

static void on_signal(int sig) {
  static const char msg[] = "peer: interrupted\n";
  (void)sig;
  (void)!write(2, msg, sizeof msg - 1);
  leave(1);
}

static void die(const char *what) { fprintf(stderr, "peer: %s: %s\n", what, strerror(errno)); leave(1); }
static void fail(const char *what) { fprintf(stderr, "peer: %s\n", what); leave(1); }

static size_t total_offset(int32_t n) { return (32 + 4 * (size_t)n + 7) / 8 * 8; }
static size_t data_offset(int32_t n) { return (total_offset(n) + 8 + 4095) / 4096 * 4096; }

/* Takes one from semaphore `num` with SEM_UNDO; gives up when `peer` (if not 0) has died. */
static void take(int semid, unsigned short num, pid_t peer) {
  struct sembuf op = { num, -1, SEM_UNDO };
  struct timespec slice = { 0, 200 * 1000 * 1000 };
  for (int waited = 0;; waited++) {
    if (semtimedop(semid, &op, 1, &slice) == 0) return;
    if (errno != EAGAIN && errno != EINTR) die("semtimedop");
    if (peer != 0 && kill(peer, 0) == -1 && errno == ESRCH) fail("the other side has gone");
    if (waited > PATIENCE_S * 5) fail("waited 10 s for a slot");
  }
}

/* Gives one to semaphore `num`, and cancels the undo note of the claim on `claimed`. */
static void hand_over(int semid, unsigned short num, unsigned short claimed) {
  struct sembuf ops[3] = { { num, 1, 0 }, { claimed, 1, SEM_UNDO }, { claimed, -1, 0 } };
  if (semop(semid, ops, 3) == -1) die("semop");
}

static int server(key_t key, int32_t slots, int32_t slot_size) {
  size_t size = data_offset(slots) + (size_t)slots * slot_size;
  int semid = semget(key, 2, IPC_CREAT | IPC_EXCL | 0600);
  if (semid == -1) die("semget");
  created_sem = semid;
  union semun free_slots = { .val = slots }, none = { .val = 0 };
  if (semctl(semid, FREE, SETVAL, free_slots) == -1 || semctl(semid, FILLED, SETVAL, none) == -1)
    die("semctl(SETVAL)");
  int shmid = shmget(key, size, IPC_CREAT | IPC_EXCL | 0600);
  if (shmid == -1) die("shmget");
  created_shm = shmid;
  char *base = shmat(shmid, NULL, 0);
  if (base == (void *)-1) die("shmat");
  int32_t *h = (int32_t *)base;
  uint32_t *length = (uint32_t *)(base + 32);
  int64_t *end_total = (int64_t *)(base + total_offset(slots));
  h[VERSION_W] = 1, h[SLOTS_W] = slots, h[SLOT_SIZE_W] = slot_size;
  h[DATA_OFFSET_W] = (int32_t)data_offset(slots), h[CREATOR_W] = getpid(), h[ATTACHED_W] = 0;
  *end_total = -1;
  __atomic_store_n(&h[MAGIC_W], MAGIC, __ATOMIC_RELEASE); /* last: the ring is ready */

  pid_t client = 0;
  for (int i = 0; (client = __atomic_load_n(&h[ATTACHED_W], __ATOMIC_ACQUIRE)) == 0; i++) {
    if (i > PATIENCE_S * 1000) fail("no client attached within 10 s");
    usleep(1000);
  }
  if (shmctl(shmid, IPC_RMID, NULL) == -1) die("shmctl(IPC_RMID)"); /* lives until the last shmdt */
  created_shm = -1;

  int64_t sent = 0;
  for (int32_t w = 0;; w = (w + 1) % slots) {
    take(semid, FREE, client);
    char *slot = base + data_offset(slots) + (size_t)w * slot_size;
    ssize_t n = read(0, slot, slot_size);
    if (n < 0) die("read");
    length[w] = (uint32_t)n;
    if (n == 0) __atomic_store_n(end_total, sent, __ATOMIC_RELEASE);
    hand_over(semid, FILLED, FREE);
    if (n == 0) break;
    sent += n;
  }
  for (int32_t i = 0; i < slots; i++) take(semid, FREE, client); /* every slot back: all taken */
  for (struct shmid_ds ds;; usleep(1000)) { /* the set may go once the client has detached */
    if (shmctl(shmid, IPC_STAT, &ds) == -1) die("shmctl(IPC_STAT)");
    if (ds.shm_nattch <= 1 || (kill(client, 0) == -1 && errno == ESRCH)) break;
  }
  if (semctl(semid, 0, IPC_RMID) == -1) die("semctl(IPC_RMID)");
  created_sem = -1;
  if (shmdt(base) == -1) die("shmdt");
  fprintf(stderr, "peer: server sent %lld bytes\n", (long long)sent);
  return 0;
}

static int client(key_t key) {
  int shmid = -1;
  char *base = NULL;
  for (int i = 0;; i++) { /* wait for the segment, and for its magic number */
    if (i > PATIENCE_S * 1000) fail("no ready segment within 10 s");
    if (base == NULL && (shmid = shmget(key, 0, 0)) != -1) {
      base = shmat(shmid, NULL, 0);
      if (base == (void *)-1) die("shmat");
    }
    if (base != NULL && __atomic_load_n((int32_t *)base, __ATOMIC_ACQUIRE) == MAGIC) break;
    usleep(1000);
  }
  int32_t *h = (int32_t *)base;
  int32_t slots = h[SLOTS_W], slot_size = h[SLOT_SIZE_W];
  pid_t server = h[CREATOR_W];
  if (kill(server, 0) == -1 && errno == ESRCH) fail("the segment is stale: its creator has gone");
  int32_t nobody = 0;
  if (!__atomic_compare_exchange_n(&h[ATTACHED_W], &nobody, getpid(), 0, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE))
    fail("another process has attached already");
  int semid = semget(key, 0, 0);
  if (semid == -1) die("semget");
  uint32_t *length = (uint32_t *)(base + 32);
  int64_t *end_total = (int64_t *)(base + total_offset(slots));

  int64_t got = 0;
  for (int32_t r = 0;; r = (r + 1) % slots) {
    take(semid, FILLED, server);
    uint32_t n = length[r];
    const char *slot = base + data_offset(slots) + (size_t)r * slot_size;
    for (uint32_t done = 0; done < n;) {
      ssize_t m = write(1, slot + done, n - done);
      if (m < 0) die("write");
      done += (uint32_t)m;
    }
    hand_over(semid, FREE, FILLED);
    if (n == 0) break;
    got += n;
  }
  if (__atomic_load_n(end_total, __ATOMIC_ACQUIRE) != got) fail("the server's total differs");
  if (shmdt(base) == -1) die("shmdt"); /* the server waits for this to remove the set */
  fprintf(stderr, "peer: client got %lld bytes\n", (long long)got);
  return 0;
}

int main(int argc, char **argv) {
  if (signal(SIGINT, on_signal) == SIG_ERR || signal(SIGTERM, on_signal) == SIG_ERR) die("signal");
  if (argc == 5 && strcmp(argv[1], "server") == 0)
    return server((key_t)strtoul(argv[2], NULL, 0), atoi(argv[3]), atoi(argv[4]));
  if (argc == 3 && strcmp(argv[1], "client") == 0) return client((key_t)strtoul(argv[2], NULL, 0));
  fprintf(stderr, "usage: %s server KEY SLOTS SLOT_SIZE < input | client KEY > output\n", argv[0]);
  return 2;
}
