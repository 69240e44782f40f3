/*
 * registry.c - the workloads linked into every driver, in the order hello
 * lists them, and the helpers a workload's loop uses to report.
 *
 * Adding a workload: write workloads/<name>.c defining `const workload
 * wl_<name>`, list the file in meson.build's workload_src, and add it below.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "workload.h"

extern const workload wl_spawn, wl_spawn_tree, wl_yield, wl_chan, wl_fib, wl_skew,
    wl_parked, wl_stress, wl_rpc, wl_mixed;

const workload *const wl_all[] = {
    &wl_spawn, &wl_spawn_tree, &wl_yield, &wl_chan, &wl_fib, &wl_skew,
    &wl_parked, &wl_stress, &wl_rpc, &wl_mixed, NULL,
};

const int wl_count = (int)(sizeof wl_all / sizeof wl_all[0]) - 1;

const workload *wl_find(const char *name)
{
    for (int i = 0; i < wl_count; i++)
        if (strcmp(wl_all[i]->name, name) == 0) return wl_all[i];
    return NULL;
}

int wl_param_index(const workload *w, const char *name)
{
    for (int i = 0; i < w->nparams; i++)
        if (strcmp(w->params[i].name, name) == 0) return i;
    return -1;
}

void wl_metric_add(wl_loop_out *out, const char *name, double value, bool is_int)
{
    if (out->nmetrics == WL_MAX_METRICS) {
        /* Dropping a figure silently would report less than was measured. */
        wl_fail(out, "more than %d metrics; '%s' has no room", WL_MAX_METRICS, name);
        return;
    }
    out->metrics[out->nmetrics++] = (wl_metric){name, value, is_int};
}

void wl_fail(wl_loop_out *out, const char *fmt, ...)
{
    if (out->error[0]) return; /* the first failure is the cause; keep it */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->error, sizeof out->error, fmt, ap);
    va_end(ap);
    if (!out->error[0]) snprintf(out->error, sizeof out->error, "failed (no message)");
}
