/*
 * The lab guest's workload: writes fixed-size, sequence-numbered, checksummed records to raw
 * data disks with synchronous direct writes at a steady rate, and echoes every acknowledged
 * sequence number on the serial console. Lifeboat counts data loss after a failover by
 * comparing the last sequence number on a recovered disk with the last one acknowledged.
 *
 * The record layout is the contract with lab/workload/record.ts (little-endian, 4096 bytes):
 *   0   magic "LBWREC01"        8 bytes
 *   8   format version (1)      u32
 *   12  record size (4096)      u32
 *   16  sequence number         u64 (starts at 1)
 *   24  unix time in ms         u64
 *   32  disk index (0-based)    u32
 *   36  vm name length          u32
 *   40  vm name, zero padded    64 bytes
 *   104 payload                 3988 bytes (xorshift32 stream seeded by seq and disk)
 *   4092 CRC-32 (IEEE) of bytes 0..4091   u32
 * Record `seq` lives in slot (seq - 1) % slots, slots = disk size / 4096 (a ring).
 *
 * A record goes to every disk in turn, so a power cut can leave it on the first disks only (it
 * was never acknowledged). On start the workload finishes such a record on the disks that lack
 * it before going on, so every disk's ring holds every sequence number up to its last; and
 * SIGTERM (the guest's shutdown) waits for the record being written to reach every disk.
 *
 * Usage: workload VMNAME RATE_PER_SECOND DEVICE...
 * LB_WORKLOAD_COUNT=N stops after N records (the unit test runs it on a regular file).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REC 4096
#define MAX_DISKS 8

static uint32_t crc_table[256];

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
}

static uint32_t crc32_ieee(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

static int record_valid(const uint8_t *r) {
  return memcmp(r, "LBWREC01", 8) == 0 && get32(r + 8) == 1 && get32(r + 12) == REC &&
         get32(r + REC - 4) == crc32_ieee(r, REC - 4);
}

static void build(uint8_t *r, const char *vm, uint64_t seq, uint32_t disk) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  memset(r, 0, REC);
  memcpy(r, "LBWREC01", 8);
  put32(r + 8, 1);
  put32(r + 12, REC);
  put64(r + 16, seq);
  put64(r + 24, (uint64_t)ts.tv_sec * 1000 + (uint64_t)(ts.tv_nsec / 1000000));
  put32(r + 32, disk);
  size_t len = strlen(vm);
  if (len > 64) len = 64;
  put32(r + 36, (uint32_t)len);
  memcpy(r + 40, vm, len);
  uint32_t x = (uint32_t)(seq * 2654435761u) ^ (disk + 1) * 40503u;
  if (x == 0) x = 1;
  for (int i = 104; i < REC - 4; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    r[i] = (uint8_t)x;
  }
  put32(r + REC - 4, crc32_ieee(r, REC - 4));
}

/* The highest valid sequence number on a disk, so a recovered VM continues after it. */
static uint64_t scan_last(int fd, uint64_t slots, uint8_t *buf, size_t bufsz) {
  uint64_t last = 0;
  uint64_t per = bufsz / REC;
  for (uint64_t s = 0; s < slots; s += per) {
    uint64_t n = slots - s < per ? slots - s : per;
    ssize_t got = pread(fd, buf, n * REC, (off_t)(s * REC));
    if (got <= 0) break;
    for (uint64_t i = 0; i < (uint64_t)got / REC; i++) {
      uint8_t *r = buf + i * REC;
      if (record_valid(r) && get64(r + 16) > last) last = get64(r + 16);
    }
  }
  return last;
}

static volatile sig_atomic_t stopping = 0;
static void on_stop(int sig) {
  (void)sig;
  stopping = 1;
}

/* Writes record `seq` to disk `d`, retrying a failed write every second. */
static void put_record(uint8_t *rec, const char *vm, uint64_t seq, int d, int fd, uint64_t slots) {
  build(rec, vm, seq, (uint32_t)d);
  off_t off = (off_t)(((seq - 1) % slots) * REC);
  while (pwrite(fd, rec, REC, off) != REC) {
    printf("LBWORKLOAD-ERROR write disk=%d seq=%llu: %s\n", d, (unsigned long long)seq, strerror(errno));
    fflush(stdout);
    sleep(1);
  }
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: workload VMNAME RATE DEVICE...\n");
    return 2;
  }
  crc_init();
  const char *vm = argv[1];
  double rate = atof(argv[2]);
  if (rate <= 0) rate = 5;
  int ndisks = argc - 3 > MAX_DISKS ? MAX_DISKS : argc - 3;
  int fds[MAX_DISKS];
  uint64_t slots[MAX_DISKS];
  uint8_t *rec, *scan;
  const size_t scansz = 1 << 20;
  if (posix_memalign((void **)&rec, 4096, REC) || posix_memalign((void **)&scan, 4096, scansz)) return 1;
  uint64_t seq = 0;
  uint64_t lasts[MAX_DISKS];
  for (int d = 0; d < ndisks; d++) {
    fds[d] = open(argv[3 + d], O_RDWR | O_DIRECT | O_DSYNC);
    /* Some file systems (tmpfs) refuse O_DIRECT; O_DSYNC alone still makes writes durable. */
    if (fds[d] < 0 && errno == EINVAL) fds[d] = open(argv[3 + d], O_RDWR | O_DSYNC);
    if (fds[d] < 0) {
      fprintf(stderr, "LBWORKLOAD-ERROR open %s: %s\n", argv[3 + d], strerror(errno));
      return 1;
    }
    uint64_t bytes = 0;
    struct stat st;
    if (fstat(fds[d], &st) == 0 && S_ISREG(st.st_mode)) bytes = (uint64_t)st.st_size;
    else if (ioctl(fds[d], BLKGETSIZE64, &bytes) != 0) bytes = 0;
    if (bytes < REC) {
      fprintf(stderr, "LBWORKLOAD-ERROR size of %s\n", argv[3 + d]);
      return 1;
    }
    slots[d] = bytes / REC;
    lasts[d] = scan_last(fds[d], slots[d], scan, scansz);
    if (lasts[d] > seq) seq = lasts[d];
  }
  /* A record cut off by a power loss after the first disks: finish it on the others. */
  for (int d = 0; d < ndisks; d++) {
    if (seq > 0 && lasts[d] + 1 == seq) {
      put_record(rec, vm, seq, d, fds[d], slots[d]);
      printf("LBWORKLOAD-COMPLETED vm=%s disk=%d seq=%llu\n", vm, d, (unsigned long long)seq);
    }
  }
  sigset_t stops;
  sigemptyset(&stops);
  sigaddset(&stops, SIGTERM);
  sigaddset(&stops, SIGINT);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  printf("LBWORKLOAD-START vm=%s disks=%d resume_after=%llu rate=%g\n", vm, ndisks, (unsigned long long)seq,
         rate);
  fflush(stdout);
  const char *count_env = getenv("LB_WORKLOAD_COUNT");
  uint64_t remaining = count_env ? strtoull(count_env, NULL, 10) : 0;
  FILE *cur = NULL;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  const long step_ns = (long)(1e9 / rate);
  while (!stopping) {
    seq++;
    /* A stop asked for mid-record waits until every disk holds it. */
    sigprocmask(SIG_BLOCK, &stops, NULL);
    for (int d = 0; d < ndisks; d++) put_record(rec, vm, seq, d, fds[d], slots[d]);
    /* Acknowledged only once every disk holds the record (O_DSYNC + O_DIRECT). */
    printf("LBACK vm=%s seq=%llu\n", vm, (unsigned long long)seq);
    fflush(stdout);
    sigprocmask(SIG_UNBLOCK, &stops, NULL);
    if (stopping) break;
    if (count_env && --remaining == 0) return 0;
    cur = fopen("/run/lastseq", "w");
    if (cur) {
      fprintf(cur, "%llu\n", (unsigned long long)seq);
      fclose(cur);
    }
    next.tv_nsec += step_ns;
    while (next.tv_nsec >= 1000000000L) {
      next.tv_nsec -= 1000000000L;
      next.tv_sec++;
    }
    /* More than a second behind (the VM was paused, saved and restored): resume the steady
       rate from now instead of writing a burst to catch up. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > next.tv_sec + 1) next = now;
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
  }
  printf("LBWORKLOAD-STOP vm=%s last=%llu\n", vm, (unsigned long long)seq);
  fflush(stdout);
  return 0;
}
