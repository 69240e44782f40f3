/*
 * hist_check - feeds tgo_hist the unsigned integers read from stdin and
 * prints, as one JSON object, what it reports for the percentiles named on
 * the command line: once for a histogram that recorded every value, once
 * for three histograms that split the values round-robin and were merged,
 * and once for the first after a reset. tests/test_hist.py compares the
 * figures with numpy's.
 *
 *     cc -O2 -I tgobench/native/include -I tgobench/native/src \
 *        tests/c/hist_check.c tgobench/native/src/hist.c -o hist_check
 *     printf '5\n7\n' | ./hist_check 50 99
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "tgo.h"

static void print_hist(const char *name, const tgo_hist *h, int npct, char **pcts)
{
    printf("\"%s\":{\"count\":%" PRIu64 ",\"max\":%" PRIu64 ",\"percentiles\":[",
           name, tgo_hist_count(h), tgo_hist_max(h));
    for (int i = 0; i < npct; i++)
        printf("%s%" PRIu64, i ? "," : "", tgo_hist_percentile(h, strtod(pcts[i], NULL)));
    printf("]}");
}

int main(int argc, char **argv)
{
    tgo_hist *whole = tgo_hist_new();
    tgo_hist *parts[3] = {tgo_hist_new(), tgo_hist_new(), tgo_hist_new()};
    tgo_hist *merged = tgo_hist_new();
    if (!whole || !parts[0] || !parts[1] || !parts[2] || !merged) {
        fprintf(stderr, "hist_check: out of memory\n");
        return 1;
    }
    uint64_t v;
    uint64_t n = 0;
    while (scanf("%" SCNu64, &v) == 1) {
        tgo_hist_record(whole, v);
        tgo_hist_record(parts[n++ % 3], v);
    }
    for (int i = 0; i < 3; i++)
        tgo_hist_merge(merged, parts[i]);

    printf("{");
    print_hist("whole", whole, argc - 1, argv + 1);
    printf(",");
    print_hist("merged", merged, argc - 1, argv + 1);
    tgo_hist_reset(whole);
    printf(",");
    print_hist("reset", whole, argc - 1, argv + 1);
    printf("}\n");

    tgo_hist_free(whole);
    tgo_hist_free(merged);
    for (int i = 0; i < 3; i++)
        tgo_hist_free(parts[i]);
    return 0;
}
