/*
 * overflow.c - a task that overflows its stack, for tests/test_stack_overflow.py.
 *
 *   overflow STACK_SIZE DEPTH_BYTES
 *
 * Runs one task on a runtime with STACK_SIZE-byte stacks; the task recurses
 * until about DEPTH_BYTES of stack are used, then yields (a switch, where the
 * canary of the small class is checked). The runtime must stop the process
 * with a message naming the overflow; exit 0 means it did not notice.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tgo.h"

enum { FRAME = 256 };

static size_t depth_bytes;

__attribute__((noinline)) static unsigned long recurse(size_t used)
{
    volatile unsigned char frame[FRAME];
    for (int i = 0; i < FRAME; i++)
        frame[i] = (unsigned char)(used + (size_t)i);
    unsigned long below = used + FRAME < depth_bytes ? recurse(used + FRAME) : 0;
    return below + frame[used % FRAME];
}

static void deep_task(void *arg)
{
    *(unsigned long *)arg = recurse(0);
    tgo_yield();
}

static void main_task(void *arg)
{
    tgo_spawn(deep_task, arg);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: overflow STACK_SIZE DEPTH_BYTES\n");
        return 2;
    }
    depth_bytes = strtoul(argv[2], NULL, 10);
    unsigned long sink = 0;
    tgo_config cfg = {.procs = 1, .stack_size = strtoul(argv[1], NULL, 10)};
    int err = tgo_run(&cfg, main_task, &sink, NULL);
    printf("returned %d (sink %lu)\n", err, sink);
    return 0;
}
