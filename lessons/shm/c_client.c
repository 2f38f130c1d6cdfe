/*
 * A client for the shared-memory lesson, in C: it attaches to the ring that
 * `deno task lesson:shm server` makes and writes what comes through it to stdout.
 * Nothing here is shared with the Deno code: only the layout and the protocol of README.md.
 *
 *     cc -O2 -o /tmp/c_client lessons/shm/c_client.c     (glibc < 2.34: add -pthread -lrt)
 *     deno task lesson:shm server --name /ipc-lesson-shm-lab --input notes.txt     # terminal 1
 *     /tmp/c_client /ipc-lesson-shm-lab > copy.txt                                 # terminal 2
 *
 * To keep it short it waits without a timeout, and does not notice a server that dies
 * (exercise 1 of README.md); start the server first.
 */
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define RING_MAGIC 0x474e4952u /* the bytes "RING" on a little-endian machine */
#define RING_VERSION 1u

struct ring_header {
    uint32_t magic;        /* written last by the server: the ring is ready */
    uint32_t version;      /* 1 */
    uint32_t slots;        /* N */
    uint32_t slot_size;    /* S, in bytes */
    uint32_t data_offset;  /* where slot 0 starts */
    int32_t creator_pid;   /* the server */
    int32_t attached_pid;  /* 0 until a client attaches */
    uint32_t reserved;
    uint32_t length[];     /* bytes in slot i; 0 marks the end of the file */
};

static void die(const char *what)
{
    perror(what);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s /NAME > OUTPUT\n", argv[0]);
        return 2;
    }
    char free_name[300], filled_name[300];
    snprintf(free_name, sizeof free_name, "%s-free", argv[1]);
    snprintf(filled_name, sizeof filled_name, "%s-filled", argv[1]);

    /* 1. Open and map the whole segment. */
    int fd = shm_open(argv[1], O_RDWR, 0);
    if (fd < 0) die("shm_open");
    struct stat st;
    if (fstat(fd, &st) < 0) die("fstat");
    unsigned char *base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) die("mmap");
    close(fd); /* the mapping keeps the segment alive */
    struct ring_header *ring = (struct ring_header *)base;
    if (__atomic_load_n(&ring->magic, __ATOMIC_ACQUIRE) != RING_MAGIC ||
        ring->version != RING_VERSION) {
        fprintf(stderr, "%s is not a ready ring of the lesson\n", argv[1]);
        return 1;
    }

    /* 2. Open the two semaphores, then attach: the server waits for a pid in attached_pid. */
    sem_t *free_slots = sem_open(free_name, 0);
    sem_t *filled_slots = sem_open(filled_name, 0);
    if (free_slots == SEM_FAILED || filled_slots == SEM_FAILED) die("sem_open");
    int32_t nobody = 0;
    if (!__atomic_compare_exchange_n(&ring->attached_pid, &nobody, (int32_t)getpid(), 0,
                                     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
        fprintf(stderr, "process %d has already attached\n", nobody);
        return 1;
    }

    /* 3. The consumer: wait(filled), use slot r, post(free), r = (r + 1) mod N. */
    for (uint32_t r = 0;; r = (r + 1) % ring->slots) {
        while (sem_wait(filled_slots) < 0)
            if (errno != EINTR) die("sem_wait");
        uint32_t n = ring->length[r];
        const unsigned char *slot = base + ring->data_offset + (size_t)r * ring->slot_size;
        if (n > ring->slot_size) {
            fprintf(stderr, "slot %u claims %u bytes\n", r, n);
            return 1;
        }
        if (n > 0 && fwrite(slot, 1, n, stdout) != n) die("fwrite");
        if (sem_post(free_slots) < 0) die("sem_post"); /* the end marker's slot too */
        if (n == 0) break;
    }
    sem_close(free_slots);
    sem_close(filled_slots);
    munmap(base, (size_t)st.st_size);
    return fflush(stdout) == 0 ? 0 : 1;
}
