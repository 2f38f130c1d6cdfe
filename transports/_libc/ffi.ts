/**
 * The C library, loaded: the symbol table, with the C prototype beside every entry, and the
 * project's only `Deno.dlopen`.
 *
 * The wrappers in the other files of this folder call these symbols directly, `c.read(…)`,
 * with nothing in between: a synchronous FFI call costs about what the system call itself
 * costs, so a hot loop should pay for nothing else. (This is how denodrivers/sqlite3 lays out
 * its FFI: one file of symbols, and the wrappers grouped by topic around it.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { c } from "./ffi.ts";
 * assert.equal(c.getppid(), Number(Deno.readTextFileSync("/proc/self/stat").split(" ")[3]));
 * ```
 *
 * @module
 */

if (Deno.build.os !== "linux") {
  throw new Error(`These lessons use Linux system calls; this is ${Deno.build.os}`);
}

// ---------------------------------------------------------------------------------------------
// The symbol table. The C prototype stands beside every parameter.
// ---------------------------------------------------------------------------------------------

const SYMBOLS = {
  // int *__errno_location(void);  (what the C macro `errno` expands to in glibc)
  __errno_location: { parameters: [], result: "pointer" },
  // char *strerror(int errnum);
  strerror: {
    parameters: [
      "i32", // int errnum
    ],
    result: "pointer",
  },

  // int open(const char *pathname, int flags, ... /* mode_t mode */);
  open: {
    parameters: [
      "buffer", // const char *pathname
      "i32", // int flags
      "u32", // mode_t mode (used with O_CREAT; open is variadic, but on Linux an extra int argument is harmless)
    ],
    result: "i32",
  },
  // int close(int fd);
  close: {
    parameters: [
      "i32", // int fd
    ],
    result: "i32",
  },
  // ssize_t read(int fd, void *buf, size_t count);
  read: {
    parameters: [
      "i32", // int fd
      "buffer", // void *buf
      "usize", // size_t count
    ],
    // ssize_t, read as its low 32 bits (see errno.ts): Linux moves at most 0x7ffff000 bytes
    // in one read or write, so the count always fits, and -1 stays -1.
    result: "i32",
  },
  // ssize_t write(int fd, const void *buf, size_t count);
  write: {
    parameters: [
      "i32", // int fd
      "buffer", // const void *buf
      "usize", // size_t count
    ],
    result: "i32", // ssize_t, as for read
  },
  // int fcntl(int fd, int cmd, ... /* int arg */);
  fcntl: {
    parameters: [
      "i32", // int fd
      "i32", // int cmd
      "i32", // int arg
    ],
    result: "i32",
  },
  // int poll(struct pollfd *fds, nfds_t nfds, int timeout);
  poll: {
    parameters: [
      "buffer", // struct pollfd *fds
      "u64", // nfds_t nfds
      "i32", // int ms
    ],
    result: "i32",
  },
  // The same poll(2), run on a worker thread: the event loop keeps turning while it waits.
  poll_park: {
    name: "poll",
    parameters: [
      "buffer", // struct pollfd *fds
      "u64", // nfds_t nfds
      "i32", // int ms
    ],
    result: "i32",
    nonblocking: true,
  },
  // int pipe2(int pipefd[2], int flags);
  pipe2: {
    parameters: [
      "buffer", // int pipefd[2]
      "i32", // int flags
    ],
    result: "i32",
  },
  // int dup(int oldfd);
  dup: {
    parameters: [
      "i32", // int oldfd
    ],
    result: "i32",
  },
  // int dup2(int oldfd, int newfd);
  dup2: {
    parameters: [
      "i32", // int oldfd
      "i32", // int newfd
    ],
    result: "i32",
  },
  // int mkfifo(const char *pathname, mode_t mode);
  mkfifo: {
    parameters: [
      "buffer", // const char *pathname
      "u32", // mode_t mode
    ],
    result: "i32",
  },
  // int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
  //            int flags);
  linkat: {
    parameters: [
      "i32", // int olddirfd
      "buffer", // const char *oldpath
      "i32", // int newdirfd
      "buffer", // const char *newpath
      "i32", // int flags
    ],
    result: "i32",
  },
  // int unlink(const char *pathname);
  unlink: {
    parameters: [
      "buffer", // const char *pathname
    ],
    result: "i32",
  },
  // int sched_yield(void);
  sched_yield: { parameters: [], result: "i32" },
  // int kill(pid_t pid, int sig);
  kill: {
    parameters: [
      "i32", // pid_t pid
      "i32", // int sig
    ],
    result: "i32",
  },
  // int clock_gettime(clockid_t clockid, struct timespec *tp);
  clock_gettime: {
    parameters: [
      "i32", // clockid_t clockid
      "buffer", // struct timespec *tp
    ],
    result: "i32",
  },
  // int ftruncate(int fd, off_t length);
  ftruncate: {
    parameters: [
      "i32", // int fd
      "i64", // off_t length
    ],
    result: "i32",
  },
  // void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset);
  mmap: {
    parameters: [
      "pointer", // void *addr
      "usize", // size_t length
      "i32", // int prot
      "i32", // int flags
      "i32", // int fd
      "i64", // off_t offset
    ],
    result: "pointer",
  },
  // int munmap(void *addr, size_t length);
  munmap: {
    parameters: [
      "pointer", // void *addr
      "usize", // size_t length
    ],
    result: "i32",
  },

  // int posix_fallocate(int fd, off_t offset, off_t len);  (returns the error number itself)
  posix_fallocate: {
    parameters: [
      "i32", // int fd
      "i64", // off_t offset
      "i64", // off_t len
    ],
    result: "i32",
  },
  // int statvfs(const char *path, struct statvfs *buf);
  statvfs: {
    parameters: [
      "buffer", // const char *path
      "buffer", // struct statvfs *buf
    ],
    result: "i32",
  },
  // int access(const char *pathname, int mode);
  access: {
    parameters: [
      "buffer", // const char *pathname
      "i32", // int mode
    ],
    result: "i32",
  },
  // int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4,
  //           unsigned long arg5);
  prctl: {
    parameters: [
      "i32", // int option
      "u64", // unsigned long arg2
      "u64", // unsigned long arg3
      "u64", // unsigned long arg4
      "u64", // unsigned long arg5
    ],
    result: "i32",
  },
  // pid_t getppid(void);
  getppid: { parameters: [], result: "i32" },
  // pid_t waitpid(pid_t pid, int *wstatus, int options);
  waitpid: {
    parameters: [
      "i32", // pid_t pid
      "buffer", // int *wstatus
      "i32", // int options
    ],
    result: "i32",
  },
  // int socket(int domain, int type, int protocol);
  socket: {
    parameters: [
      "i32", // int domain
      "i32", // int type
      "i32", // int protocol
    ],
    result: "i32",
  },
  // int bind(int sockfd, const struct sockaddr *addr, socklen_t addrlen);
  bind: {
    parameters: [
      "i32", // int sockfd
      "buffer", // const struct sockaddr *addr
      "u32", // socklen_t addrlen
    ],
    result: "i32",
  },
  // int listen(int sockfd, int backlog);
  listen: {
    parameters: [
      "i32", // int sockfd
      "i32", // int backlog
    ],
    result: "i32",
  },
  // int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);
  accept4: {
    parameters: [
      "i32", // int sockfd
      "buffer", // struct sockaddr *addr (may be NULL)
      "buffer", // socklen_t *addrlen (may be NULL)
      "i32", // int flags (SOCK_NONBLOCK, SOCK_CLOEXEC)
    ],
    result: "i32",
  },
  // int connect(int sockfd, const struct sockaddr *addr, socklen_t addrlen);
  connect: {
    parameters: [
      "i32", // int sockfd
      "buffer", // const struct sockaddr *addr
      "u32", // socklen_t addrlen
    ],
    result: "i32",
  },
  // int shutdown(int sockfd, int how);
  shutdown: {
    parameters: [
      "i32", // int sockfd
      "i32", // int how (SHUT_RD, SHUT_WR, SHUT_RDWR)
    ],
    result: "i32",
  },
  // int setsockopt(int sockfd, int level, int optname, const void *optval, socklen_t optlen);
  setsockopt: {
    parameters: [
      "i32", // int sockfd
      "i32", // int level
      "i32", // int optname
      "buffer", // const void *optval
      "u32", // socklen_t optlen
    ],
    result: "i32",
  },
  // int getsockopt(int sockfd, int level, int optname, void *optval, socklen_t *optlen);
  getsockopt: {
    parameters: [
      "i32", // int sockfd
      "i32", // int level
      "i32", // int optname
      "buffer", // void *optval
      "buffer", // socklen_t *optlen
    ],
    result: "i32",
  },
  // int getsockname(int sockfd, struct sockaddr *addr, socklen_t *addrlen);
  getsockname: {
    parameters: [
      "i32", // int sockfd
      "buffer", // struct sockaddr *addr
      "buffer", // socklen_t *addrlen
    ],
    result: "i32",
  },
  // int getpeername(int sockfd, struct sockaddr *addr, socklen_t *addrlen);
  getpeername: {
    parameters: [
      "i32", // int sockfd
      "buffer", // struct sockaddr *addr
      "buffer", // socklen_t *addrlen
    ],
    result: "i32",
  },
  // ssize_t sendmsg(int sockfd, const struct msghdr *msg, int flags);
  sendmsg: {
    parameters: [
      "i32", // int sockfd
      "buffer", // const struct msghdr *msg
      "i32", // int flags
    ],
    result: "i32", // ssize_t, as for read
  },
  // ssize_t recvmsg(int sockfd, struct msghdr *msg, int flags);
  recvmsg: {
    parameters: [
      "i32", // int sockfd
      "buffer", // struct msghdr *msg
      "i32", // int flags
    ],
    result: "i32", // ssize_t, as for read
  },
  // int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
  //                 struct addrinfo **res);
  // On another thread: resolving a name may wait for DNS, and Ctrl-C must still be heard.
  getaddrinfo: {
    parameters: [
      "buffer", // const char *node
      "buffer", // const char *service (may be NULL)
      "buffer", // const struct addrinfo *hints
      "buffer", // struct addrinfo **res
    ],
    result: "i32", // 0, or an EAI_* code (not errno)
    nonblocking: true,
  },
  // void freeaddrinfo(struct addrinfo *res);
  freeaddrinfo: {
    parameters: [
      "pointer", // struct addrinfo *res
    ],
    result: "void",
  },
  // const char *gai_strerror(int errcode);
  gai_strerror: {
    parameters: [
      "i32", // int errcode
    ],
    result: "pointer",
  },
  // pid_t gettid(void);  (the kernel's id of the calling thread)
  gettid: { parameters: [], result: "i32" },

  // --- System V IPC: keys, message queues, shared memory segments, semaphore sets ----------

  // key_t ftok(const char *pathname, int proj_id);
  ftok: {
    parameters: [
      "buffer", // const char *pathname
      "i32", // int proj_id
    ],
    result: "i32", // key_t
  },
  // int msgget(key_t key, int msgflg);
  msgget: {
    parameters: [
      "i32", // key_t key
      "i32", // int msgflg
    ],
    result: "i32",
  },
  // int msgsnd(int msqid, const void *msgp, size_t msgsz, int msgflg);
  msgsnd: {
    parameters: [
      "i32", // int msqid
      "buffer", // const void *msgp (struct msgbuf: long mtype; char mtext[])
      "usize", // size_t msgsz (of mtext only)
      "i32", // int msgflg
    ],
    result: "i32",
  },
  // ssize_t msgrcv(int msqid, void *msgp, size_t msgsz, long msgtyp, int msgflg);
  msgrcv: {
    parameters: [
      "i32", // int msqid
      "buffer", // void *msgp
      "usize", // size_t msgsz
      "i64", // long msgtyp
      "i32", // int msgflg
    ],
    result: "i32", // ssize_t, as for read
  },
  // int msgctl(int msqid, int cmd, struct msqid_ds *buf);
  msgctl: {
    parameters: [
      "i32", // int msqid
      "i32", // int cmd
      "buffer", // struct msqid_ds *buf
    ],
    result: "i32",
  },
  // int shmget(key_t key, size_t size, int shmflg);
  shmget: {
    parameters: [
      "i32", // key_t key
      "usize", // size_t size
      "i32", // int shmflg
    ],
    result: "i32",
  },
  // void *shmat(int shmid, const void *shmaddr, int shmflg);
  shmat: {
    parameters: [
      "i32", // int shmid
      "pointer", // const void *shmaddr (NULL: the kernel picks)
      "i32", // int shmflg
    ],
    result: "pointer", // (void *) -1 on error
  },
  // int shmdt(const void *shmaddr);
  shmdt: {
    parameters: [
      "pointer", // const void *shmaddr
    ],
    result: "i32",
  },
  // int shmctl(int shmid, int cmd, struct shmid_ds *buf);
  shmctl: {
    parameters: [
      "i32", // int shmid
      "i32", // int cmd
      "buffer", // struct shmid_ds *buf
    ],
    result: "i32",
  },
  // int semget(key_t key, int nsems, int semflg);
  semget: {
    parameters: [
      "i32", // key_t key
      "i32", // int nsems
      "i32", // int semflg
    ],
    result: "i32",
  },
  // int semop(int semid, struct sembuf *sops, size_t nsops);
  semop: {
    parameters: [
      "i32", // int semid
      "buffer", // struct sembuf *sops
      "usize", // size_t nsops
    ],
    result: "i32",
  },
  // int semtimedop(int semid, struct sembuf *sops, size_t nsops, const struct timespec *timeout);
  semtimedop: {
    parameters: [
      "i32", // int semid
      "buffer", // struct sembuf *sops
      "usize", // size_t nsops
      "buffer", // const struct timespec *timeout (relative, unlike sem_timedwait)
    ],
    result: "i32",
  },
  // The same semtimedop on another thread: a wait parked there leaves the event loop free.
  semtimedop_park: {
    name: "semtimedop",
    parameters: ["i32", "buffer", "usize", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  // int semctl(int semid, int semnum, int cmd, ... /* union semun arg */);
  // For SETVAL/GETVAL/IPC_RMID: the union's int member, passed as a register-sized value.
  semctl: {
    parameters: [
      "i32", // int semid
      "i32", // int semnum
      "i32", // int cmd
      "i64", // union semun arg (.val)
    ],
    result: "i32",
  },
  // The same semctl with the union's pointer member (IPC_STAT: struct semid_ds *buf).
  semctl_buf: {
    name: "semctl",
    parameters: [
      "i32", // int semid
      "i32", // int semnum
      "i32", // int cmd
      "buffer", // union semun arg (.buf)
    ],
    result: "i32",
  },

  // --- POSIX message queues and shared memory: in librt.so.1 before glibc 2.34 -------------

  // mqd_t mq_open(const char *name, int oflag, ... /* mode_t mode, struct mq_attr *attr */);
  mq_open: {
    parameters: [
      "buffer", // const char *name
      "i32", // int oflag
      "u32", // mode_t mode
      "buffer", // struct mq_attr *attr (may be NULL)
    ],
    result: "i32",
  },
  // int mq_close(mqd_t mqdes);
  mq_close: {
    parameters: [
      "i32", // mqd_t mqdes
    ],
    result: "i32",
  },
  // int mq_unlink(const char *name);
  mq_unlink: {
    parameters: [
      "buffer", // const char *name
    ],
    result: "i32",
  },
  // int mq_getattr(mqd_t mqdes, struct mq_attr *attr);
  mq_getattr: {
    parameters: [
      "i32", // mqd_t mqdes
      "buffer", // struct mq_attr *attr
    ],
    result: "i32",
  },
  // int mq_setattr(mqd_t mqdes, const struct mq_attr *newattr, struct mq_attr *oldattr);
  mq_setattr: {
    parameters: [
      "i32", // mqd_t mqdes
      "buffer", // const struct mq_attr *newattr (only mq_flags is used)
      "buffer", // struct mq_attr *oldattr (may be NULL)
    ],
    result: "i32",
  },
  // int mq_send(mqd_t mqdes, const char *msg_ptr, size_t msg_len, unsigned int msg_prio);
  mq_send: {
    parameters: [
      "i32", // mqd_t mqdes
      "buffer", // const char *msg_ptr
      "usize", // size_t msg_len
      "u32", // unsigned int msg_prio
    ],
    result: "i32",
  },
  // ssize_t mq_receive(mqd_t mqdes, char *msg_ptr, size_t msg_len, unsigned int *msg_prio);
  mq_receive: {
    parameters: [
      "i32", // mqd_t mqdes
      "buffer", // char *msg_ptr
      "usize", // size_t msg_len
      "buffer", // unsigned int *msg_prio (may be NULL)
    ],
    // ssize_t, read as its low 32 bits: a message holds at most 16 MiB (HARD_MSGSIZEMAX).
    result: "i32",
  },
  // int mq_timedsend(mqd_t mqdes, const char *msg_ptr, size_t msg_len, unsigned int msg_prio,
  //                  const struct timespec *abs_timeout);
  mq_timedsend: {
    parameters: [
      "i32", // mqd_t mqdes
      "buffer", // const char *msg_ptr
      "usize", // size_t msg_len
      "u32", // unsigned int msg_prio
      "buffer", // const struct timespec *abs_timeout
    ],
    result: "i32",
  },
  // The same mq_timedsend(3), run on a worker thread (to park while the queue is full).
  mq_timedsend_park: {
    name: "mq_timedsend",
    parameters: ["i32", "buffer", "usize", "u32", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  // ssize_t mq_timedreceive(mqd_t mqdes, char *msg_ptr, size_t msg_len, unsigned int *msg_prio,
  //                         const struct timespec *abs_timeout);
  mq_timedreceive: {
    parameters: [
      "i32", // mqd_t mqdes
      "buffer", // char *msg_ptr
      "usize", // size_t msg_len
      "buffer", // unsigned int *msg_prio (may be NULL)
      "buffer", // const struct timespec *abs_timeout
    ],
    result: "i32", // ssize_t, as for mq_receive
  },
  // The same mq_timedreceive(3), run on a worker thread (to park while the queue is empty).
  mq_timedreceive_park: {
    name: "mq_timedreceive",
    parameters: ["i32", "buffer", "usize", "buffer", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  // int shm_open(const char *name, int oflag, mode_t mode);
  shm_open: {
    parameters: [
      "buffer", // const char *name
      "i32", // int oflag
      "u32", // mode_t mode
    ],
    result: "i32",
  },
  // int shm_unlink(const char *name);
  shm_unlink: {
    parameters: [
      "buffer", // const char *name
    ],
    result: "i32",
  },

  // --- POSIX named semaphores: in libpthread.so.0 before glibc 2.34 ---------------------------

  // sem_t *sem_open(const char *name, int oflag, ... /* mode_t mode, unsigned int value */);
  sem_open: {
    parameters: [
      "buffer", // const char *name
      "i32", // int oflag
      "u32", // mode_t mode
      "u32", // unsigned int value
    ],
    result: "pointer",
  },
  // int sem_close(sem_t *sem);
  sem_close: {
    parameters: [
      "pointer", // sem_t *sem
    ],
    result: "i32",
  },
  // int sem_unlink(const char *name);
  sem_unlink: {
    parameters: [
      "buffer", // const char *name
    ],
    result: "i32",
  },
  // int sem_post(sem_t *sem);
  sem_post: {
    parameters: [
      "pointer", // sem_t *sem
    ],
    result: "i32",
  },
  // int sem_trywait(sem_t *sem);
  sem_trywait: {
    parameters: [
      "pointer", // sem_t *sem
    ],
    result: "i32",
  },
  // int sem_clockwait(sem_t *sem, clockid_t clockid, const struct timespec *abstime);
  // (POSIX.1-2024, glibc 2.30): sem_timedwait with a deadline on the clock given, here
  // CLOCK_MONOTONIC, which nobody sets back: a wait of 10 ms never becomes one of an hour.
  sem_clockwait: {
    parameters: [
      "pointer", // sem_t *sem
      "i32", // clockid_t clockid
      "buffer", // const struct timespec *abstime
    ],
    result: "i32",
  },
  // The same sem_clockwait(3), run on a worker thread (to park while the count is zero).
  sem_clockwait_park: {
    name: "sem_clockwait",
    parameters: ["pointer", "i32", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  // int sem_getvalue(sem_t *sem, int *sval);
  sem_getvalue: {
    parameters: [
      "pointer", // sem_t *sem
      "buffer", // int *sval
    ],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

type Symbols = Deno.StaticForeignLibraryInterface<typeof SYMBOLS>;

/**
 * Opens the C library. Since glibc 2.34 everything is in `libc.so.6`; before that, `mq_*` and
 * `shm_*` lived in `librt.so.1` and `sem_*` in `libpthread.so.0`, so on an older system each
 * group is loaded from where it is.
 */
function loadLibc(): Symbols {
  try {
    return dlopen("libc.so.6", SYMBOLS);
  } catch {
    const pick = (test: (name: string) => boolean) =>
      Object.fromEntries(
        Object.entries(SYMBOLS).filter(([key, def]) => {
          const name = "name" in def ? def.name : key;
          return test(name);
        }),
      ) as Deno.ForeignLibraryInterface;
    const isRt = (name: string) => name.startsWith("mq_") || name.startsWith("shm_");
    const isSem = (name: string) => name.startsWith("sem_");
    return {
      ...dlopen("libc.so.6", pick((name) => !isRt(name) && !isSem(name))),
      ...dlopen("librt.so.1", pick(isRt)),
      ...dlopen("libpthread.so.0", pick(isSem)),
    } as Symbols;
  }
}

function dlopen<S extends Deno.ForeignLibraryInterface>(path: string, symbols: S) {
  // The project's only Deno.dlopen. The library stays open for the life of the process.
  return Deno.dlopen(path, symbols).symbols;
}

/**
 * The C library's functions, one property per entry of the symbol table: `c.read(fd, buf, n)`
 * calls read(2). Only the files of this folder call them, each through a wrapper that reads
 * errno soundly (see `errno.ts`).
 */
export const c: Symbols = loadLibc();
