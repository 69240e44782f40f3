/*
 * protocol.c - requests in, answers out (the driver protocol, version 1).
 *
 * A request is checked completely before anything runs: the op, every key,
 * every parameter against its spec (type, integral for ints, range, str
 * choices), loops, procs and the common stack_size. A run then starts ONE
 * runtime whose first task calls the workload's loop `loops` times, so the
 * runtime's start and stop are outside every measured part, and the counters
 * cover all loops. The answer's elapsed_ns and ops are sums over the loops
 * as each loop measured them; the workload's own metrics are those of the
 * last loop. A failed loop ends the run with an error: a wrong result is
 * never reported as a number.
 */
#include "protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tgo.h"

#ifndef TGOBENCH_VERSION
#define TGOBENCH_VERSION "unknown"
#endif
#ifndef TGOBENCH_COMPILER
#define TGOBENCH_COMPILER "unknown"
#endif

const wl_param_spec proto_stack_size_spec = {
    "stack_size", WL_INT, TGO_STACK_DEFAULT, TGO_STACK_MIN, TGO_STACK_MAX, NULL, NULL,
    "bytes of stack per task: 2048 selects the small class, else a multiple of 4096",
};

static int default_procs = 1;

void proto_set_default_procs(int procs) { default_procs = procs; }

/* ---- errors -------------------------------------------------------------- */

json_value *proto_error(const char *msg)
{
    json_value *answer = json_object();
    json_set(answer, "ok", json_bool(false));
    json_set(answer, "error", json_string(msg));
    return answer;
}

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static void format_number(double d, char *out, size_t outlen) { snprintf(out, outlen, "%.15g", d); }

/* "a string ('abc')", "1.5", "true": what a person sent, for a message. */
static void describe_value(const json_value *v, char *out, size_t outlen)
{
    char quoted[80];
    switch (v->type) {
    case JSON_INT: snprintf(out, outlen, "%lld", (long long)v->u.integer); break;
    case JSON_FLOAT: format_number(v->u.number, out, outlen); break;
    case JSON_STRING:
        json_quote_for_message(v->u.string.chars, v->u.string.len, quoted, sizeof quoted);
        snprintf(out, outlen, "the string %s", quoted);
        break;
    default: snprintf(out, outlen, "%s", json_type_phrase(v)); break;
    }
}

/* Join names with ", " into out. */
static void join_names(const char *const *names, int n, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n && used < outlen; i++)
        used += (size_t)snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", names[i]);
}

static void known_workloads(char *out, size_t outlen)
{
    const char *names[64];
    int n = 0;
    for (int i = 0; i < wl_count && n < 64; i++) names[n++] = wl_all[i]->name;
    join_names(names, n, out, outlen);
}

static void known_params(const workload *w, char *out, size_t outlen)
{
    const char *names[WL_MAX_PARAMS + 1];
    int n = 0;
    for (int i = 0; i < w->nparams && i < WL_MAX_PARAMS; i++) names[n++] = w->params[i].name;
    names[n++] = proto_stack_size_spec.name;
    join_names(names, n, out, outlen);
}

/* Reject a key of obj that is not one of the NULL-terminated `known`. */
static int check_keys(const json_value *obj, const char *const *known, const char *what,
                      char *err, size_t errlen)
{
    for (size_t i = 0; i < obj->u.object.len; i++) {
        const json_member *m = &obj->u.object.members[i];
        int n = 0;
        bool found = false;
        for (; known[n]; n++)
            if (strlen(known[n]) == m->key_len && memcmp(known[n], m->key, m->key_len) == 0)
                found = true;
        if (!found) {
            char quoted[80], list[256];
            json_quote_for_message(m->key, m->key_len, quoted, sizeof quoted);
            join_names(known, n, list, sizeof list);
            return fail(err, errlen, "unknown key %s in %s; known keys: %s", quoted, what, list);
        }
    }
    return 0;
}

/* ---- parameter checks ---------------------------------------------------- */

/* An integer in [min, max] given as a JSON number with an integral value. */
static int check_integer(const char *name, const char *of, const json_value *v, double min,
                         double max, double *out, char *err, size_t errlen)
{
    char got[128], lo[32], hi[32];
    describe_value(v, got, sizeof got);
    format_number(min, lo, sizeof lo);
    format_number(max, hi, sizeof hi);
    if (v->type != JSON_INT && v->type != JSON_FLOAT)
        return fail(err, errlen, "%s%s must be an integer in %s..%s, got %s", name, of, lo, hi, got);
    if (!json_is_integral(v, out))
        return fail(err, errlen, "%s%s must be an integer in %s..%s, got %s", name, of, lo, hi, got);
    if (*out < min || *out > max)
        return fail(err, errlen, "%s%s is %s, out of range: give %s..%s", name, of, got, lo, hi);
    return 0;
}

static int check_param(const workload *w, const wl_param_spec *spec, const json_value *v,
                       double *num, const char **str, char *err, size_t errlen)
{
    char of[96], got[128], lo[32], hi[32];
    snprintf(of, sizeof of, " of %s", w->name);
    describe_value(v, got, sizeof got);
    switch (spec->type) {
    case WL_INT:
        return check_integer(spec->name, of, v, spec->min, spec->max, num, err, errlen);
    case WL_FLOAT:
        format_number(spec->min, lo, sizeof lo);
        format_number(spec->max, hi, sizeof hi);
        if (v->type == JSON_INT) *num = (double)v->u.integer;
        else if (v->type == JSON_FLOAT) *num = v->u.number;
        else return fail(err, errlen, "%s%s must be a number in %s..%s, got %s",
                         spec->name, of, lo, hi, got);
        if (*num < spec->min || *num > spec->max)
            return fail(err, errlen, "%s%s is %s, out of range: give %s..%s",
                        spec->name, of, got, lo, hi);
        return 0;
    case WL_BOOL:
        if (v->type != JSON_BOOL)
            return fail(err, errlen, "%s%s must be true or false, got %s", spec->name, of, got);
        *num = v->u.boolean ? 1 : 0;
        return 0;
    case WL_STR: {
        if (v->type != JSON_STRING)
            return fail(err, errlen, "%s%s must be a string, got %s", spec->name, of, got);
        if (strlen(v->u.string.chars) != v->u.string.len)
            return fail(err, errlen, "%s%s must not contain a NUL character", spec->name, of);
        if (!spec->choices) {
            *str = v->u.string.chars;
            return 0;
        }
        int n = 0;
        for (; spec->choices[n]; n++)
            if (strcmp(spec->choices[n], v->u.string.chars) == 0) {
                *str = spec->choices[n];
                return 0;
            }
        char list[256];
        join_names(spec->choices, n, list, sizeof list);
        return fail(err, errlen, "%s%s must be one of: %s; got %s", spec->name, of, list, got);
    }
    }
    return fail(err, errlen, "%s%s has a spec of unknown type", spec->name, of);
}

static int check_stack_size(const json_value *v, size_t *out, char *err, size_t errlen)
{
    const wl_param_spec *s = &proto_stack_size_spec;
    double d;
    if (check_integer(s->name, "", v, s->min, s->max, &d, err, errlen) < 0) return -1;
    uint64_t bytes = (uint64_t)d;
    if (bytes != TGO_STACK_SMALL && bytes % 4096 != 0)
        return fail(err, errlen,
                    "stack_size %llu is neither %d (the small class) nor a multiple of 4096; "
                    "e.g. 4096, 16384 or 65536",
                    (unsigned long long)bytes, TGO_STACK_SMALL);
    if (bytes < tgo_stack_min())
        return fail(err, errlen,
                    "stack_size %llu is too small for this sanitizer build of the driver, "
                    "whose instrumentation overflows it; use %zu or more, or a release build",
                    (unsigned long long)bytes, tgo_stack_min());
    *out = (size_t)bytes;
    return 0;
}

int proto_parse_run(const json_value *request, proto_run *run, char *err, size_t errlen)
{
    static const char *const run_keys[] = {"op", "workload", "params", "loops", "procs", NULL};
    char list[512];
    memset(run, 0, sizeof *run);
    if (check_keys(request, run_keys, "a run request", err, errlen) < 0) return -1;

    const json_value *name = json_get(request, "workload");
    known_workloads(list, sizeof list);
    if (!name || name->type != JSON_STRING)
        return fail(err, errlen, "a run request needs \"workload\": a string, one of %s", list);
    const workload *w = wl_find(name->u.string.chars);
    if (!w || strlen(name->u.string.chars) != name->u.string.len) {
        char quoted[80];
        json_quote_for_message(name->u.string.chars, name->u.string.len, quoted, sizeof quoted);
        return fail(err, errlen, "unknown workload %s; known: %s", quoted, list);
    }
    run->w = w;

    for (int i = 0; i < w->nparams; i++) {
        run->args.num[i] = w->params[i].def;
        run->args.str[i] = w->params[i].def_str;
    }
    run->args.stack_size = (size_t)proto_stack_size_spec.def;
    run->args.procs = default_procs;
    run->loops = 1;

    const json_value *params = json_get(request, "params");
    if (params && params->type != JSON_OBJECT)
        return fail(err, errlen, "\"params\" must be an object such as {\"%s\": ...}, got %s",
                    w->nparams ? w->params[0].name : "stack_size", json_type_phrase(params));
    for (size_t i = 0; params && i < params->u.object.len; i++) {
        const json_member *m = &params->u.object.members[i];
        if (strlen(m->key) == m->key_len && strcmp(m->key, proto_stack_size_spec.name) == 0) {
            if (check_stack_size(m->value, &run->args.stack_size, err, errlen) < 0) return -1;
            continue;
        }
        int k = strlen(m->key) == m->key_len ? wl_param_index(w, m->key) : -1;
        if (k < 0) {
            char quoted[80];
            json_quote_for_message(m->key, m->key_len, quoted, sizeof quoted);
            known_params(w, list, sizeof list);
            return fail(err, errlen, "unknown parameter %s for %s; known: %s", quoted, w->name,
                        list);
        }
        if (check_param(w, &w->params[k], m->value, &run->args.num[k], &run->args.str[k], err,
                        errlen) < 0)
            return -1;
    }

    double d;
    const json_value *loops = json_get(request, "loops");
    if (loops) {
        if (check_integer("loops", "", loops, 1, PROTO_MAX_LOOPS, &d, err, errlen) < 0) return -1;
        run->loops = (long)d;
    }
    const json_value *procs = json_get(request, "procs");
    if (procs) {
        if (check_integer("procs", "", procs, 1, TGO_MAX_PROCS, &d, err, errlen) < 0) return -1;
        run->args.procs = (int)d;
    }
    return 0;
}

/* ---- running ------------------------------------------------------------- */

typedef struct run_state {
    const proto_run *run;
    uint64_t *per_loop_ns;
    uint64_t elapsed_ns, ops;
    long failed_loop; /* 0-based; -1 when every loop passed */
    wl_loop_out out;  /* the latest loop's */
} run_state;

/* The first task of the runtime. It may run on a 2 KiB stack: no big
 * locals here; everything lives in *st. */
static void run_loops(void *arg)
{
    run_state *st = arg;
    const proto_run *run = st->run;
    for (long i = 0; i < run->loops; i++) {
        memset(&st->out, 0, sizeof st->out);
        int rc = run->w->loop(&run->args, &st->out);
        if (rc == 0 && !st->out.error[0] && st->out.ops == 0)
            wl_fail(&st->out, "%s: the loop reported no operations", run->w->name);
        if (rc != 0 || st->out.error[0]) {
            if (!st->out.error[0]) wl_fail(&st->out, "%s: the loop failed", run->w->name);
            st->failed_loop = i;
            return;
        }
        st->per_loop_ns[i] = st->out.elapsed_ns;
        st->elapsed_ns += st->out.elapsed_ns;
        st->ops += st->out.ops;
    }
}

/* VmHWM, the peak resident set, counts from the last reset: writing "5" to
 * clear_refs resets it (proc(5)), so a run reports its own peak. */
static void reset_peak_rss(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return;
    if (write(fd, "5", 1) != 1) {
        /* An old kernel: the peak then spans the driver's life, which only
         * ever overstates it. */
    }
    close(fd);
}

static json_value *peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f) return json_null();
    char line[256];
    long long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lld kB", &kib) == 1) break;
    fclose(f);
    return kib >= 0 ? json_int(kib) : json_null();
}

static json_value *counters_json(const tgo_counters *c)
{
    static const char *const levels[TGO_STEAL_LEVELS] = {"smt", "l2", "llc", "node", "remote"};
    json_value *o = json_object();
    json_set(o, "tasks_spawned", json_int((int64_t)c->tasks_spawned));
    json_set(o, "tasks_run", json_int((int64_t)c->tasks_run));
    json_set(o, "switches", json_int((int64_t)c->switches));
    json_value *steals = json_object();
    for (int i = 0; i < TGO_STEAL_LEVELS; i++)
        json_set(steals, levels[i], json_int((int64_t)c->steals[i]));
    json_set(o, "steals", steals);
    json_set(o, "steal_attempts", json_int((int64_t)c->steal_attempts));
    json_set(o, "shared_takes", json_int((int64_t)c->shared_takes));
    json_set(o, "shared_puts", json_int((int64_t)c->shared_puts));
    json_set(o, "parks", json_int((int64_t)c->parks));
    json_set(o, "wakeups", json_int((int64_t)c->wakeups));
    json_set(o, "netpoll_wakeups", json_int((int64_t)c->netpoll_wakeups));
    json_set(o, "timer_wakeups", json_int((int64_t)c->timer_wakeups));
    json_set(o, "sched_lat_samples", json_int((int64_t)c->sched_lat_samples));
    json_set(o, "sched_lat_p50_ns", json_int((int64_t)c->sched_lat_p50_ns));
    json_set(o, "sched_lat_p99_ns", json_int((int64_t)c->sched_lat_p99_ns));
    json_set(o, "sched_lat_max_ns", json_int((int64_t)c->sched_lat_max_ns));
    return o;
}

static json_value *metric_value(const wl_metric *m)
{
    if (!isfinite(m->value)) return json_null();
    if (m->is_int) return json_int((int64_t)llround(m->value));
    return json_float(m->value);
}

/* Put a workload's metric into metrics, a dot in its name nesting it
 * ("latency_ns.p99" -> {"latency_ns": {"p99": ...}}). A name that is taken
 * already is a bug of the workload: reported, never overwritten. */
static int add_metric(json_value *metrics, const wl_metric *m, char *err, size_t errlen)
{
    char path[256];
    if (!m->name || !m->name[0] || strlen(m->name) >= sizeof path)
        return fail(err, errlen, "a metric has an empty or overlong name");
    strcpy(path, m->name);
    json_value *node = metrics;
    char *part = path;
    for (char *dot; (dot = strchr(part, '.')) != NULL; part = dot + 1) {
        *dot = '\0';
        json_value *child = json_get(node, part);
        if (!child) {
            child = json_object();
            json_set(node, part, child);
        } else if (child->type != JSON_OBJECT || (node == metrics && strcmp(part, "counters") == 0)) {
            return fail(err, errlen, "metric '%s' clashes with '%s', reported already", m->name, part);
        }
        node = child;
    }
    if (!part[0] || json_get(node, part))
        return fail(err, errlen, "metric '%s' is reported twice or clashes with another", m->name);
    json_set(node, part, metric_value(m));
    return 0;
}

static json_value *params_json(const proto_run *run)
{
    json_value *o = json_object();
    for (int i = 0; i < run->w->nparams; i++) {
        const wl_param_spec *s = &run->w->params[i];
        double v = run->args.num[i];
        switch (s->type) {
        case WL_INT: json_set(o, s->name, json_int((int64_t)v)); break;
        case WL_FLOAT: json_set(o, s->name, json_float(v)); break;
        case WL_BOOL: json_set(o, s->name, json_bool(v != 0)); break;
        case WL_STR:
            json_set(o, s->name, run->args.str[i] ? json_string(run->args.str[i]) : json_null());
            break;
        }
    }
    json_set(o, proto_stack_size_spec.name, json_int((int64_t)run->args.stack_size));
    return o;
}

static json_value *run_answer(const proto_run *run, const run_state *st, const tgo_stats *stats)
{
    char err[PROTO_ERROR_LEN];
    json_value *metrics = json_object();
    json_set(metrics, "peak_rss_kib", peak_rss_kib());
    json_set(metrics, "counters", counters_json(&stats->total));
    int procs = stats->procs >= 1 && stats->procs <= TGO_MAX_PROCS ? stats->procs : run->args.procs;
    json_value *per_p = json_array();
    for (int p = 0; p < procs; p++) json_push(per_p, json_int((int64_t)stats->per_p[p].tasks_run));
    json_set(metrics, "per_p_tasks_run", per_p);
    for (int i = 0; i < st->out.nmetrics; i++) {
        if (add_metric(metrics, &st->out.metrics[i], err, sizeof err) < 0) {
            json_free(metrics);
            char msg[PROTO_ERROR_LEN + 64];
            snprintf(msg, sizeof msg, "%s: %s", run->w->name, err);
            return proto_error(msg);
        }
    }

    json_value *answer = json_object();
    json_set(answer, "ok", json_bool(true));
    json_set(answer, "workload", json_string(run->w->name));
    json_set(answer, "elapsed_ns", json_int((int64_t)st->elapsed_ns));
    json_set(answer, "loops", json_int(run->loops));
    json_set(answer, "ops", json_int((int64_t)st->ops));
    json_set(answer, "unit", json_string(run->w->unit));
    json_set(answer, "procs", json_int(run->args.procs));
    json_set(answer, "params", params_json(run));
    json_value *per_loop = json_array();
    for (long i = 0; i < run->loops; i++) json_push(per_loop, json_int((int64_t)st->per_loop_ns[i]));
    json_set(answer, "per_loop_ns", per_loop);
    json_set(answer, "metrics", metrics);
    return answer;
}

static const char *errno_name(int e)
{
    const char *name = strerrorname_np(e);
    return name ? name : "unknown errno";
}

json_value *proto_execute_run(const proto_run *run)
{
    char msg[PROTO_ERROR_LEN + 128];
    run_state *st = calloc(1, sizeof *st);
    tgo_stats *stats = calloc(1, sizeof *stats);
    uint64_t *per_loop = calloc((size_t)run->loops, sizeof *per_loop);
    json_value *answer;
    if (!st || !stats || !per_loop) {
        answer = proto_error("out of memory before the run started; lower loops");
        goto out;
    }
    st->run = run;
    st->per_loop_ns = per_loop;
    st->failed_loop = -1;

    tgo_config cfg = {
        .procs = run->args.procs,
        .stack_size = run->args.stack_size,
        .sysfs_root = NULL,
    };
    /* As the Go driver's FreeOSMemory: what an earlier request freed but
     * malloc kept (a refused fib --n 40 left 395 MB in the exited workers'
     * arenas) would count in this request's peak. */
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    reset_peak_rss();
    int rc = tgo_run(&cfg, run_loops, st, stats);
    if (rc < 0) {
        snprintf(msg, sizeof msg,
                 "%s: the runtime failed to start or run: %s (%s) with procs=%d stack_size=%zu%s",
                 run->w->name, strerror(-rc), errno_name(-rc), cfg.procs, cfg.stack_size,
                 rc == -ENOMEM || rc == -EAGAIN ? "; lower procs or stack_size" : "");
        answer = proto_error(msg);
    } else if (st->failed_loop >= 0) {
        snprintf(msg, sizeof msg, "%s (loop %ld of %ld)", st->out.error, st->failed_loop + 1,
                 run->loops);
        answer = proto_error(msg);
    } else if (run->w->check_counters &&
               run->w->check_counters(&run->args, run->loops, &stats->total, msg,
                                      sizeof msg) != 0) {
        answer = proto_error(msg);
    } else {
        answer = run_answer(run, st, stats);
    }
out:
    free(per_loop);
    free(stats);
    free(st);
    return answer;
}

/* ---- hello and topology -------------------------------------------------- */

static json_value *spec_json(const wl_param_spec *s)
{
    static const char *const types[] = {[WL_INT] = "int", [WL_FLOAT] = "float",
                                        [WL_BOOL] = "bool", [WL_STR] = "str"};
    json_value *o = json_object();
    json_set(o, "type", json_string(types[s->type]));
    switch (s->type) {
    case WL_INT:
        json_set(o, "default", json_int((int64_t)s->def));
        json_set(o, "min", json_int((int64_t)s->min));
        json_set(o, "max", json_int((int64_t)s->max));
        break;
    case WL_FLOAT:
        json_set(o, "default", json_float(s->def));
        json_set(o, "min", json_float(s->min));
        json_set(o, "max", json_float(s->max));
        break;
    case WL_BOOL: json_set(o, "default", json_bool(s->def != 0)); break;
    case WL_STR: {
        json_set(o, "default", s->def_str ? json_string(s->def_str) : json_null());
        if (s->choices) {
            json_value *choices = json_array();
            for (int i = 0; s->choices[i]; i++) json_push(choices, json_string(s->choices[i]));
            json_set(o, "choices", choices);
        }
        break;
    }
    }
    json_set(o, "help", json_string(s->help ? s->help : ""));
    return o;
}

static json_value *workloads_json(void)
{
    json_value *all = json_object();
    for (int i = 0; i < wl_count; i++) {
        const workload *w = wl_all[i];
        json_value *o = json_object();
        json_set(o, "unit", json_string(w->unit));
        json_set(o, "help", json_string(w->help ? w->help : ""));
        json_value *params = json_object();
        for (int k = 0; k < w->nparams; k++) json_set(params, w->params[k].name, spec_json(&w->params[k]));
        json_set(params, proto_stack_size_spec.name, spec_json(&proto_stack_size_spec));
        json_set(o, "params", params);
        json_set(all, w->name, o);
    }
    return all;
}

/* cpus, nodes, node_of and levels of the tree under sysfs_root (NULL:
 * /sys) into obj; -1 with err set when it cannot be read. */
static int add_topology(json_value *obj, const char *sysfs_root, char *err, size_t errlen)
{
    int rc = 0;
    tgo_topology *topo = tgo_topology_read(sysfs_root, &rc);
    if (!topo) {
        int e = rc < 0 ? -rc : rc;
        return fail(err, errlen, "cannot read the CPU topology under '%s': %s (%s)",
                    sysfs_root ? sysfs_root : "/sys", strerror(e), errno_name(e));
    }
    int ncpus = tgo_topology_ncpus(topo);
    json_set(obj, "cpus", json_int(ncpus));
    json_set(obj, "nodes", json_int(tgo_topology_nnodes(topo)));
    json_value *node_of = json_array(), *levels = json_array();
    for (int cpu = 0; cpu < ncpus; cpu++) {
        json_push(node_of, json_int(tgo_topology_node_of(topo, cpu)));
        json_value *row = json_array();
        for (int other = 0; other < ncpus; other++)
            json_push(row, json_int(tgo_topology_level(topo, cpu, other)));
        json_push(levels, row);
    }
    json_set(obj, "node_of", node_of);
    json_set(obj, "levels", levels);
    tgo_topology_free(topo);
    return 0;
}

json_value *proto_hello(void)
{
    char err[PROTO_ERROR_LEN];
    json_value *answer = json_object();
    json_set(answer, "ok", json_bool(true));
    json_set(answer, "impl", json_string(tgo_policy_name()));
    json_set(answer, "version", json_string(TGOBENCH_VERSION));
    json_set(answer, "protocol", json_int(PROTO_VERSION));
    json_set(answer, "procs", json_int(default_procs));
    json_set(answer, "compiler", json_string(TGOBENCH_COMPILER));
    json_set(answer, "workloads", workloads_json());
    json_value *topology = json_object();
    if (add_topology(topology, NULL, err, sizeof err) < 0) {
        /* hello must work for the driver to be usable at all; say why the
         * topology is missing instead. */
        json_free(topology);
        topology = json_null();
        fprintf(stderr, "tgobench-driver: %s\n", err);
    }
    json_set(answer, "topology", topology);
    return answer;
}

static json_value *answer_topology(const json_value *request)
{
    static const char *const keys[] = {"op", "sysfs_root", NULL};
    char err[PROTO_ERROR_LEN];
    if (check_keys(request, keys, "a topology request", err, sizeof err) < 0)
        return proto_error(err);
    const json_value *root = json_get(request, "sysfs_root");
    if (!root || root->type != JSON_STRING || root->u.string.len == 0 ||
        strlen(root->u.string.chars) != root->u.string.len)
        return proto_error("a topology request needs \"sysfs_root\": the path of a directory "
                           "shaped like /sys (with devices/system/cpu)");
    json_value *answer = json_object();
    json_set(answer, "ok", json_bool(true));
    if (add_topology(answer, root->u.string.chars, err, sizeof err) < 0) {
        json_free(answer);
        return proto_error(err);
    }
    return answer;
}

/* ---- dispatch ------------------------------------------------------------ */

json_value *proto_answer(const json_value *request)
{
    char err[PROTO_ERROR_LEN];
    if (request->type != JSON_OBJECT) {
        snprintf(err, sizeof err,
                 "a request must be a JSON object such as {\"op\":\"hello\"}, got %s",
                 json_type_phrase(request));
        return proto_error(err);
    }
    const json_value *op = json_get(request, "op");
    if (!op || op->type != JSON_STRING)
        return proto_error("a request needs \"op\": one of hello, run, topology");
    const char *name = op->u.string.chars;
    bool clean = strlen(name) == op->u.string.len;
    if (clean && strcmp(name, "hello") == 0) {
        static const char *const keys[] = {"op", NULL};
        if (check_keys(request, keys, "a hello request", err, sizeof err) < 0)
            return proto_error(err);
        return proto_hello();
    }
    if (clean && strcmp(name, "run") == 0) {
        proto_run run;
        if (proto_parse_run(request, &run, err, sizeof err) < 0) return proto_error(err);
        return proto_execute_run(&run);
    }
    if (clean && strcmp(name, "topology") == 0) return answer_topology(request);
    char quoted[80];
    json_quote_for_message(op->u.string.chars, op->u.string.len, quoted, sizeof quoted);
    snprintf(err, sizeof err, "unknown op %s; known: hello, run, topology", quoted);
    return proto_error(err);
}

char *proto_answer_line(const char *line, size_t len)
{
    char err[PROTO_ERROR_LEN], msg[PROTO_ERROR_LEN + 64];
    json_value *answer;
    json_value *request = json_parse(line, len, err, sizeof err);
    if (request) {
        answer = proto_answer(request);
        json_free(request);
    } else {
        snprintf(msg, sizeof msg, "the request is not JSON: %s", err);
        answer = proto_error(msg);
    }
    char *text = json_write(answer, NULL);
    json_free(answer);
    return text;
}
