/*
 * runnext_check - a thief's take of a P's runnext (tgo__runnext_steal),
 * with the owner acting during the thief's pause: runq.c calls
 * tgo__pause_ns there, and this program's tgo__pause_ns plays the owner.
 * For each thing the owner may do meanwhile, and for Go's check (no count
 * of puts) and the counted one (tgo's), it prints what the thief stole
 * and what the slot holds afterwards, as one JSON object; tests/test_runq.py
 * holds the expected table.
 *
 *     cc -O2 -D_GNU_SOURCE -I tgobench/native/include -I tgobench/native/src \
 *        tests/c/runnext_check.c tgobench/native/src/runq.c -o runnext_check
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runq.h"

static tgo__task task_a, task_b;
static tgo__runnext slot;
static _Atomic uint32_t owner_puts;
static const char *owner_action;

static const char *name(const tgo__task *t)
{
    return t == &task_a ? "\"A\"" : t == &task_b ? "\"B\"" : "null";
}

/* The owner's put, counted as tgo counts its own. */
static void owner_put(tgo__task *t)
{
    tgo__runnext_put(&slot, t);
    atomic_fetch_add(&owner_puts, 1);
}

/* The thief's pause: the owner does owner_action. */
void tgo__pause_ns(uint64_t ns)
{
    (void)ns;
    if (strcmp(owner_action, "nothing") == 0)
        return;
    if (tgo__runnext_take(&slot) != &task_a) {
        fprintf(stderr, "runnext_check: the owner did not find A in its slot\n");
        exit(1);
    }
    if (strcmp(owner_action, "ran it, then it was woken again") == 0)
        owner_put(&task_a);
    else if (strcmp(owner_action, "ran it, and it woke B") == 0)
        owner_put(&task_b);
}

/* The rest of the runtime that runq.c links against, which these cases
 * never reach (they use no locked queue). */
static noreturn void unreached(const char *what)
{
    fprintf(stderr, "runnext_check: %s called\n", what);
    exit(1);
}

void tgo__fatal(const char *fmt, ...)
{
    unreached(fmt);
}

void tgo__spin_lock(tgo__spinlock *l)
{
    (void)l;
    unreached("tgo__spin_lock");
}

void tgo__spin_unlock(tgo__spinlock *l)
{
    (void)l;
    unreached("tgo__spin_unlock");
}

int main(void)
{
    static const char *actions[] = {"nothing", "ran it", "ran it, then it was woken again",
                                    "ran it, and it woke B"};
    printf("{");
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        owner_action = actions[i];
        printf("%s\"%s\":{", i ? "," : "", owner_action);
        for (int counted = 0; counted < 2; counted++) {
            owner_put(&task_a);
            tgo__task *stolen = tgo__runnext_steal(&slot, counted ? &owner_puts : NULL);
            tgo__task *left = tgo__runnext_take(&slot);
            printf("%s\"%s\":{\"stolen\":%s,\"left\":%s}", counted ? "," : "",
                   counted ? "counted" : "go", name(stolen), name(left));
        }
        printf("}");
    }
    printf("}\n");
    return 0;
}
