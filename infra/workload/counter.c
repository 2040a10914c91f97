/*
 * The stateful workload that the demo, the e2e tests and the benchmarks
 * migrate: it keeps all of its progress in memory, so a restart from zero is
 * visible and a live migration is not.
 *
 *   counter <MiB> [progress-file] [tick-ms] [verify-KiB-per-tick]
 *
 * Fills <MiB> of memory with a pattern derived from each word's index, then
 * counts forever (one tick every tick-ms, default 10). Every tick it
 * re-verifies a rolling slice of the buffer (default 8 MiB), and it publishes its state atomically
 * (write + rename) to the progress file: counter, ticks since start of this
 * process image, completed verification sweeps and whether any word was ever
 * found corrupt. The file is reopened on each write, so no descriptor stays
 * open across a checkpoint.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


/* Unique per word (so any misplaced or lost page shows), yet compressible
 * about 8:1 by zstd like typical heap data, not like random bytes. */
static inline uint64_t pattern(uint64_t i) { return i ^ 0x5ca1ab1e00000000ull; }

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: counter <MiB> [progress-file] [tick-ms] [verify-KiB-per-tick]\n");
    return 2;
  }
  const uint64_t mib = strtoull(argv[1], NULL, 10);
  const char *path = argc > 2 ? argv[2] : "/state/progress";
  /* Many simulated pods share one machine in the benchmarks: a longer tick
   * and a smaller slice keep each one from eating a core. */
  const long tick_ms = argc > 3 ? strtol(argv[3], NULL, 10) : 10;
  const uint64_t slice_words = (argc > 4 ? strtoull(argv[4], NULL, 10) : 8192) * 1024 / sizeof(uint64_t);
  if (tick_ms < 1 || tick_ms > 10000 || slice_words < 1) {
    fprintf(stderr, "counter: tick-ms must be 1..10000 and verify-KiB-per-tick at least 1\n");
    return 2;
  }
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);

  const uint64_t words = mib * (1u << 20) / sizeof(uint64_t);
  uint64_t *buf = words ? malloc(words * sizeof(uint64_t)) : NULL;
  if (words && !buf) {
    perror("malloc");
    return 1;
  }
  for (uint64_t i = 0; i < words; i++) buf[i] = pattern(i);

  uint64_t counter = 0, sweeps = 0, cursor = 0, corrupt = 0;
  const struct timespec tick = {tick_ms / 1000, (tick_ms % 1000) * 1000 * 1000};
  for (;;) {
    counter++;
    for (uint64_t n = 0; n < slice_words && words; n++) {
      if (buf[cursor] != pattern(cursor)) corrupt++;
      if (++cursor == words) {
        cursor = 0;
        sweeps++;
      }
    }
    FILE *f = fopen(tmp, "w");
    if (f) {
      fprintf(f, "counter=%llu mib=%llu sweeps=%llu corrupt=%llu tick_ms=%ld pid=%d\n", (unsigned long long)counter,
              (unsigned long long)mib, (unsigned long long)sweeps, (unsigned long long)corrupt, tick_ms, (int)getpid());
      fclose(f);
      rename(tmp, path);
    }
    nanosleep(&tick, NULL);
  }
}
