/* A main() for the fuzz targets in builds without libFuzzer: runs
 * LLVMFuzzerTestOneInput once on every file named on the command line and
 * every file in every folder named (not recursively, dot files skipped).
 * Options starting with '-' are ignored, so ctest can call a libFuzzer
 * binary and this driver the same way (`TARGET -runs=0 DIR...`). A crash
 * or sanitizer report ends the process; otherwise it prints how many inputs
 * ran and exits 0 (1 if an argument cannot be read). */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: cannot open '%s'\n", path);
    return -1;
  }
  size_t cap = 1 << 16, size = 0;
  uint8_t *data = malloc(cap);
  for (size_t got; data && (got = fread(data + size, 1, cap - size, f)) > 0;) {
    size += got;
    if (size == cap) {
      uint8_t *grown = realloc(data, cap *= 2);
      if (!grown) free(data);
      data = grown;
    }
  }
  fclose(f);
  if (!data) {
    fprintf(stderr, "replay: out of memory reading '%s'\n", path);
    return -1;
  }
  /* an exact-size copy, so that reads past the end are caught */
  uint8_t *exact = malloc(size ? size : 1);
  if (exact) memcpy(exact, data, size);
  free(data);
  if (!exact) return -1;
  LLVMFuzzerTestOneInput(exact, size);
  free(exact);
  return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

/* Returns the number of inputs run, or -1 on a read error. */
static int run_dir(const char *dir) {
  struct dirent **entries;
  int n = scandir(dir, &entries, NULL, by_name), ran = 0, failed = 0;
  if (n < 0) {
    fprintf(stderr, "replay: cannot read folder '%s'\n", dir);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, entries[i]->d_name);
    if (entries[i]->d_name[0] != '.' && stat(path, &st) == 0 &&
        S_ISREG(st.st_mode)) {
      if (run_file(path) == 0)
        ran++;
      else
        failed = 1;
    }
    free(entries[i]);
  }
  free(entries);
  return failed ? -1 : ran;
}

int main(int argc, char **argv) {
  int ran = 0, failed = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (argv[i][0] == '-') continue;
    int n = -1;
    if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
      n = run_dir(argv[i]);
    else if (run_file(argv[i]) == 0)
      n = 1;
    if (n < 0)
      failed = 1;
    else
      ran += n;
  }
  printf("replay: %d inputs ran without a crash\n", ran);
  return failed;
}
