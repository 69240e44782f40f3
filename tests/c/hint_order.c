/*
 * hint_order.c - where a policy puts a task by its hint, seen as the order
 * in which tasks run on one P.
 *
 * Usage: hint_order spawn|wake none|netio|batch
 *
 *   spawn  the main task spawns W with the hint, then A1, A2, A3 (no hint),
 *          and waits for all four;
 *   wake   the main task spawns W with the hint and waits until W blocks
 *          receiving from a channel; it then spawns A1, A2, A3, sends to W
 *          (readying it on its own P, from a running task, as every wake-up
 *          of a ping-pong is) and waits for all four.
 *
 * Only one P runs, so the order is the policy's alone. The program prints
 * it, "order W A3 A1 A2", checks that each task ran once and exits 0.
 * gmp ignores hints, as Go has none; tgo takes a NETIO wake-up first
 * and a BATCH task last, behind everything else.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tgo.h"

enum { PLAIN = 3, TASKS = PLAIN + 1 };

static const char *names[TASKS] = {"W", "A1", "A2", "A3"};
static int order[TASKS], ran;
static tgo_hint hint;
static bool wake_mode;
static tgo_wg *all_done, *w_waiting;
static tgo_chan *to_w;

static void record(int task)
{
    if (ran == TASKS) {
        fprintf(stderr, "hint_order: more than %d runs\n", TASKS);
        exit(1);
    }
    order[ran++] = task;
    tgo_wg_done(all_done);
}

static void w_task(void *arg)
{
    (void)arg;
    if (wake_mode) {
        int value;
        tgo_wg_done(w_waiting);
        tgo_chan_recv(to_w, &value);
    }
    record(0);
}

static void plain_task(void *arg)
{
    record((int)(long)arg);
}

static void spawn_or_die(tgo_fn fn, long arg, tgo_hint h)
{
    if (tgo_spawn_hint(fn, (void *)arg, h) != 0) {
        fprintf(stderr, "hint_order: out of memory spawning a task\n");
        exit(1);
    }
}

static void main_task(void *arg)
{
    (void)arg;
    all_done = tgo_wg_new();
    w_waiting = tgo_wg_new();
    to_w = tgo_chan_new(sizeof(int), 0);
    if (!all_done || !w_waiting || !to_w) {
        fprintf(stderr, "hint_order: out of memory\n");
        exit(1);
    }
    tgo_wg_add(all_done, TASKS);
    tgo_wg_add(w_waiting, 1);
    spawn_or_die(w_task, 0, hint);
    if (wake_mode)
        tgo_wg_wait(w_waiting);
    for (long i = 1; i <= PLAIN; i++)
        spawn_or_die(plain_task, i, TGO_HINT_NONE);
    int value = 1;
    if (wake_mode)
        tgo_chan_send(to_w, &value);
    tgo_wg_wait(all_done);
    tgo_chan_free(to_w);
    tgo_wg_free(w_waiting);
    tgo_wg_free(all_done);
}

static int parse_args(int argc, char **argv)
{
    static const char *hints[] = {"none", "netio", "batch"};
    static const tgo_hint values[] = {TGO_HINT_NONE, TGO_HINT_NETIO, TGO_HINT_BATCH};
    if (argc != 3 || (strcmp(argv[1], "spawn") != 0 && strcmp(argv[1], "wake") != 0))
        return -1;
    wake_mode = strcmp(argv[1], "wake") == 0;
    for (int i = 0; i < 3; i++)
        if (strcmp(argv[2], hints[i]) == 0) {
            hint = values[i];
            return 0;
        }
    return -1;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0) {
        fprintf(stderr, "usage: hint_order spawn|wake none|netio|batch\n");
        return 2;
    }
    tgo_config cfg = {.procs = 1};
    int rc = tgo_run(&cfg, main_task, NULL, NULL);
    if (rc != 0) {
        fprintf(stderr, "hint_order: tgo_run failed: %d\n", rc);
        return 1;
    }
    int seen = 0;
    for (int i = 0; i < ran; i++)
        seen |= 1 << order[i];
    if (ran != TASKS || seen != (1 << TASKS) - 1) {
        fprintf(stderr, "hint_order: %d runs covering tasks %#x, expected each of %d once\n",
                ran, seen, TASKS);
        return 1;
    }
    printf("order");
    for (int i = 0; i < TASKS; i++)
        printf(" %s", names[order[i]]);
    printf("\n");
    return 0;
}
