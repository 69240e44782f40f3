/*
 * workload.h - how a workload is described to the driver.
 *
 * A workload is written once against tgo.h and linked into every policy's
 * driver. It declares its parameters (name, type, default, range), and a
 * loop function that runs inside a task of a fresh runtime, once per loop
 * of a `run` request: it times its own measured part with tgo_now_ns(),
 * counts the operations its value is per, and checks its result in closed
 * form. A failed check is an error, never a number.
 */
#ifndef TGOBENCH_WORKLOAD_H
#define TGOBENCH_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tgo.h"

enum { WL_MAX_PARAMS = 16, WL_MAX_METRICS = 48, WL_ERROR_LEN = 512 };

typedef enum wl_param_type { WL_INT, WL_FLOAT, WL_BOOL, WL_STR } wl_param_type;

typedef struct wl_param_spec {
    const char *name;
    wl_param_type type;
    double def, min, max;         /* for WL_INT / WL_FLOAT / WL_BOOL */
    const char *def_str;          /* for WL_STR */
    const char *const *choices;   /* WL_STR: NULL-terminated allowed values */
    const char *help;
} wl_param_spec;

typedef struct wl_args {
    double num[WL_MAX_PARAMS];      /* by index of the spec; ints are exact */
    const char *str[WL_MAX_PARAMS];
    int procs;
    size_t stack_size;
} wl_args;

/* A named figure; a dot nests it in the protocol ("latency_ns.p99"). */
typedef struct wl_metric {
    const char *name;
    double value;
    bool is_int;
} wl_metric;

typedef struct wl_loop_out {
    uint64_t elapsed_ns;            /* the measured part only */
    uint64_t ops;                   /* operations the value is per */
    wl_metric metrics[WL_MAX_METRICS];
    int nmetrics;
    char error[WL_ERROR_LEN];       /* non-empty: the loop failed */
} wl_loop_out;

typedef struct workload {
    const char *name;
    const char *unit;               /* what ops counts: "task", "switch", ... */
    const char *help;
    const wl_param_spec *params;
    int nparams;
    /* Runs inside the first task of a runtime of args->procs Ps. Returns 0,
     * or -1 with out->error set. */
    int (*loop)(const wl_args *args, wl_loop_out *out);
    /* Optional, for a result only the runtime can witness: called once the
     * runtime of a request's `loops` loops has ended, with its counters.
     * Returns 0, or -1 with error (error_len bytes) saying what is wrong. */
    int (*check_counters)(const wl_args *args, long loops, const tgo_counters *total,
                          char *error, size_t error_len);
} workload;

extern const workload *const wl_all[];   /* NULL-terminated */
extern const int wl_count;

const workload *wl_find(const char *name);
int wl_param_index(const workload *w, const char *name);
/* name is kept, not copied, and read after the run: pass a string literal.
 * More than WL_MAX_METRICS metrics fail the loop. */
void wl_metric_add(wl_loop_out *out, const char *name, double value, bool is_int);
/* Set out->error (the first call wins; later ones are ignored). */
void wl_fail(wl_loop_out *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
