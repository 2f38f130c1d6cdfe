/*
 * peer.c: the System V queue lesson's protocol in C, either side.
 *
 *   cc -O2 -o peer lessons/sysv-mq/peer.c
 *   ./peer server -k 0x1234 < input        # or: -p PATH -j PROJ (ftok)
 *   ./peer client -k 0x1234 > output
 *
 * The protocol (README.md): the server creates the queue (IPC_CREAT | IPC_EXCL, 0600) and
 * sends the input as messages of type 1, at most msgmax bytes each, then one message of type 2
 * whose 8 bytes are the number of bytes sent (little-endian); it waits until the queue is empty
 * (msg_qnum 0) and removes it (IPC_RMID). The client finds the queue with msgget(key, 0),
 * receives with msgtyp 0, stops at type 2, and fails unless its count is what came (any process
 * of the user may msgsnd to the queue, or msgrcv from it) and nothing follows it.
 *
 * Blocking calls are fine in C: alarm(-t SECONDS, default 10) ends a wait that lasts too long,
 * and the server removes its queue on the way out (SIGALRM, SIGINT, SIGTERM, errors).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <time.h>
#include <unistd.h>

enum { DATA = 1, END = 2, END_TEXT = 8 };

/* The end message's text: the count, 8 bytes, least significant first, whatever the CPU. */
static void put_count(char *text, uint64_t count)
{
    for (int i = 0; i < END_TEXT; i++) text[i] = (char)(count >> (8 * i));
}

static uint64_t get_count(const char *text)
{
    uint64_t count = 0;
    for (int i = 0; i < END_TEXT; i++) count |= (uint64_t)(unsigned char)text[i] << (8 * i);
    return count;
}

static int created = -1; /* the msqid this process created, removed on every way out */

static void leave(int status)
{
    if (created >= 0) msgctl(created, IPC_RMID, NULL);
    _exit(status);
}

static void on_signal(int sig)
{
    static const char msg[] = "peer: timed out or interrupted\n";
    (void)sig;
    (void)!write(2, msg, sizeof msg - 1);
    leave(1);
}

static void die(const char *what)
{
    fprintf(stderr, "peer: %s: %s\n", what, strerror(errno));
    leave(1);
}

static long msgmax(void)
{
    long value = 8192;
    FILE *f = fopen("/proc/sys/kernel/msgmax", "r");
    if (f) {
        if (fscanf(f, "%ld", &value) != 1) value = 8192;
        fclose(f);
    }
    return value;
}

int main(int argc, char **argv)
{
    const char *role = argc > 1 ? argv[1] : "";
    const char *path = NULL;
    key_t key = 0;
    int proj = 76, seconds = 10;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-k")) key = (key_t)strtoul(argv[i + 1], NULL, 0);
        else if (!strcmp(argv[i], "-p")) path = argv[i + 1];
        else if (!strcmp(argv[i], "-j")) proj = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-t")) seconds = atoi(argv[i + 1]);
    }
    if (path) {
        key = ftok(path, proj);
        if (key == -1) die("ftok");
    }
    if (key == 0 || (strcmp(role, "server") && strcmp(role, "client"))) {
        fprintf(stderr, "usage: peer server|client (-k KEY | -p PATH [-j PROJ]) [-t SECONDS]\n");
        return 2;
    }
    signal(SIGALRM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    alarm((unsigned)seconds);

    long max = msgmax();
    struct msgbuf_ { long mtype; char mtext[]; } *msg = malloc(sizeof(long) + (size_t)max);
    if (!msg) die("malloc");

    if (!strcmp(role, "server")) {
        int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
        if (id < 0) die("msgget(IPC_CREAT | IPC_EXCL)");
        created = id;
        uint64_t sent = 0;
        for (;;) {
            ssize_t n = read(0, msg->mtext, (size_t)max);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) die("read");
            msg->mtype = n == 0 ? END : DATA;
            if (n == 0) { /* the end carries the count, which the client checks */
                put_count(msg->mtext, sent);
                n = END_TEXT;
            }
            while (msgsnd(id, msg, (size_t)n, 0) < 0)
                if (errno != EINTR) die("msgsnd");
            if (msg->mtype == END) break;
            sent += (uint64_t)n;
        }
        struct msqid_ds ds;
        for (;;) { /* the client has taken everything when the queue is empty */
            if (msgctl(id, IPC_STAT, &ds) < 0) die("msgctl(IPC_STAT)");
            if (ds.msg_qnum == 0) break;
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        }
        leave(0);
    }

    int id;
    while ((id = msgget(key, 0)) < 0) { /* the server may not have created it yet */
        if (errno != ENOENT) die("msgget");
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    uint64_t received = 0;
    for (;;) {
        ssize_t n = msgrcv(id, msg, (size_t)max, 0, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("msgrcv");
        if (msg->mtype == END) {
            struct msqid_ds ds;
            if (n != END_TEXT || get_count(msg->mtext) != received ||
                (msgctl(id, IPC_STAT, &ds) == 0 && ds.msg_qnum > 0)) {
                fprintf(stderr, "peer: the end does not match what came (%llu bytes): another "
                                "process of this user sent to the queue or took from it\n",
                        (unsigned long long)received);
                return 1;
            }
            break;
        }
        if (msg->mtype != DATA) {
            fprintf(stderr, "peer: a message of type %ld: not this protocol\n", msg->mtype);
            return 1;
        }
        received += (uint64_t)n;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(1, msg->mtext + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) die("write");
            done += w;
        }
    }
    return 0;
}
