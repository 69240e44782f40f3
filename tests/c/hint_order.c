/*
 * hint_order.c - where a policy puts a task by its hint, seen as the order
 * in which tasks run.
 *
 * Usage: hint_order spawn|wake|steal none|netio|batch
 *
 *   spawn  the main task spawns W with the hint, then A1, A2, A3 (no hint),
 *          and waits for all four;
 *   wake   the main task spawns W with the hint and waits until W blocks
 *          receiving from a channel; it then spawns A1, A2, A3, sends to W
 *          (readying it on its own P, from a running task, as every wake-up
 *          of a ping-pong is) and waits for all four;
 *   steal  on two Ps, the main task keeps a blocker task busy on the other
 *          P, spawns A1, A2, A3 and then W with the hint, lets the blocker
 *          return and spins until the other P, now idle, has stolen and run
 *          one of them; then it waits for all four.
 *
 * In the first two only one P runs, so the order is the policy's alone.
 * The program prints it, "order W A3 A1 A2", and for steal the task the
 * other P ran first, "first-elsewhere W"; it checks that each task ran
 * once and exits 0. gmp ignores hints, as Go has none; tgo takes a NETIO
 * wake-up first and a BATCH task last, behind everything else (but for
 * its fairness turn every 61st slice, which these few slices reach only
 * as the main task first runs), while a thief takes a BATCH task first.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "other_p.h"
#include "tgo.h"

enum { PLAIN = 3, TASKS = PLAIN + 1 };

static const char *names[TASKS] = {"W", "A1", "A2", "A3"};
static int order[TASKS];
static _Atomic int ran;
static tgo_hint hint;
static enum { SPAWN, WAKE, STEAL } mode;
static tgo_wg *all_done, *w_waiting;
static tgo_chan *to_w;

static void record(int task)
{
    int slot = atomic_fetch_add(&ran, 1);
    if (slot >= TASKS) {
        fprintf(stderr, "hint_order: more than %d runs\n", TASKS);
        exit(1);
    }
    order[slot] = task;
    note_if_elsewhere(task);
    tgo_wg_done(all_done);
}

static void w_task(void *arg)
{
    (void)arg;
    if (mode == WAKE) {
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

/* Spawn A1..A3 and then W with the hint while a blocker keeps the other P
 * busy, so that all four wait on this P; then let the other P steal. */
static void spawn_for_thief(void)
{
    hold_other_p();
    for (long i = 1; i <= PLAIN; i++)
        spawn_or_die(plain_task, i, TGO_HINT_NONE);
    spawn_or_die(w_task, 0, hint);
    release_other_p();
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
    if (mode == STEAL) {
        spawn_for_thief();
    } else {
        spawn_or_die(w_task, 0, hint);
        if (mode == WAKE)
            tgo_wg_wait(w_waiting);
        for (long i = 1; i <= PLAIN; i++)
            spawn_or_die(plain_task, i, TGO_HINT_NONE);
        int value = 1;
        if (mode == WAKE)
            tgo_chan_send(to_w, &value);
    }
    tgo_wg_wait(all_done);
    tgo_chan_free(to_w);
    tgo_wg_free(w_waiting);
    tgo_wg_free(all_done);
}

static int parse_args(int argc, char **argv)
{
    static const char *modes[] = {"spawn", "wake", "steal"};
    static const char *hints[] = {"none", "netio", "batch"};
    static const tgo_hint values[] = {TGO_HINT_NONE, TGO_HINT_NETIO, TGO_HINT_BATCH};
    int found = 0;
    for (int i = 0; argc == 3 && i < 3; i++) {
        if (strcmp(argv[1], modes[i]) == 0) {
            mode = i;
            found |= 1;
        }
        if (strcmp(argv[2], hints[i]) == 0) {
            hint = values[i];
            found |= 2;
        }
    }
    return found == 3 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0) {
        fprintf(stderr, "usage: hint_order spawn|wake|steal none|netio|batch\n");
        return 2;
    }
    tgo_config cfg = {.procs = mode == STEAL ? 2 : 1};
    int rc = tgo_run(&cfg, main_task, NULL, NULL);
    if (rc != 0) {
        fprintf(stderr, "hint_order: tgo_run failed: %d\n", rc);
        return 1;
    }
    int runs = atomic_load(&ran), seen = 0;
    for (int i = 0; i < runs; i++)
        seen |= 1 << order[i];
    if (runs != TASKS || seen != (1 << TASKS) - 1) {
        fprintf(stderr, "hint_order: %d runs covering tasks %#x, expected each of %d once\n",
                runs, seen, TASKS);
        return 1;
    }
    printf("order");
    for (int i = 0; i < TASKS; i++)
        printf(" %s", names[order[i]]);
    printf("\n");
    if (mode == STEAL)
        printf("first-elsewhere %s\n", names[atomic_load(&first_elsewhere)]);
    return 0;
}
