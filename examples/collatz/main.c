/*
 * Collatz: for every n in [lo, hi), the number of steps n -> n/2 (even) or 3n+1 (odd) takes to
 * reach 1; prints the n with the most steps (the smallest such n) as JSON. A WASI program
 * (wasm32-wasi, preview 1) for volunteer-grid, built with Debian's clang and wasi-libc: see
 * build.sh. The work unit gives "lo hi" on stdin; stderr is the app's log.
 *
 * Long ranges checkpoint: every CHUNK numbers it writes its place to "checkpoint.tmp" and
 * renames it to "checkpoint" (so a checkpoint is never half-written); the volunteer saves that
 * file, and when the task resumes elsewhere or after a restart the file is there again.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define CHUNK 200000

struct state {
    uint64_t next, best, best_steps;
};

static uint64_t steps(uint64_t n) {
    uint64_t s = 0;
    while (n != 1) {
        n = (n & 1) ? 3 * n + 1 : n >> 1;
        s++;
    }
    return s;
}

static int load(struct state *st) {
    FILE *f = fopen("checkpoint", "r");
    if (!f) return 0;
    int ok = fscanf(f, "%" SCNu64 " %" SCNu64 " %" SCNu64, &st->next, &st->best, &st->best_steps) == 3;
    fclose(f);
    return ok;
}

static void save(const struct state *st) {
    FILE *f = fopen("checkpoint.tmp", "w");
    if (!f) return;
    fprintf(f, "%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", st->next, st->best, st->best_steps);
    fclose(f);
    rename("checkpoint.tmp", "checkpoint");
}

int main(void) {
    uint64_t lo, hi;
    if (scanf("%" SCNu64 " %" SCNu64, &lo, &hi) != 2 || lo < 1 || hi <= lo) {
        fprintf(stderr, "expected \"lo hi\" on stdin with 1 <= lo < hi\n");
        return 2;
    }
    struct state st = {lo, lo, 0};
    if (load(&st)) fprintf(stderr, "resuming at %" PRIu64 "\n", st.next);
    if (st.next == lo) st.best_steps = steps(lo);
    for (uint64_t n = st.next; n < hi; n++) {
        uint64_t s = steps(n);
        if (s > st.best_steps) {
            st.best = n;
            st.best_steps = s;
        }
        if ((n + 1 - lo) % CHUNK == 0 && n + 1 < hi) {
            st.next = n + 1;
            save(&st);
        }
    }
    printf("{\"lo\":%" PRIu64 ",\"hi\":%" PRIu64 ",\"n\":%" PRIu64 ",\"steps\":%" PRIu64 "}\n", lo, hi, st.best, st.best_steps);
    return 0;
}
