/*
 * main.c - the driver executable: serves the protocol on stdin (the
 * default), or answers one request from its command line for a person:
 *
 *   tgobench-driver-tgo [--procs N] [serve]
 *   tgobench-driver-tgo [--procs N] hello
 *   tgobench-driver-tgo [--procs N] run spawn --tasks 1000 --loops 3 [--stack-size 2048]
 *
 * A one-shot run prints the same JSON line the protocol answers and exits
 * 0 when it is ok, 1 when the run failed, 2 for a mistake on the command
 * line (then the message goes to stderr). Parameter flags are the
 * parameter names with dashes for underscores, checked exactly as the
 * protocol checks them: the command line is turned into a run request.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "json.h"
#include "protocol.h"
#include "tgo.h"

enum { EXIT_OK = 0, EXIT_RUN_FAILED = 1, EXIT_USAGE = 2 };

static char program[64] = "tgobench-driver";

__attribute__((format(printf, 1, 2)))
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", program);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help'.\n", program);
    return EXIT_USAGE;
}

static void print_help(void)
{
    printf("Usage: %s [--procs N] [COMMAND]\n\n"
           "The %s scheduler's benchmark driver (tgobench %s, protocol %d).\n\n"
           "Commands:\n"
           "  serve              answer JSON requests, one per line on stdin (the default)\n"
           "  hello              print what this driver is and the workloads it runs\n"
           "  run WORKLOAD [--PARAM VALUE]... [--loops N] [--stack-size BYTES]\n"
           "                     run one workload and print the result as one JSON line;\n"
           "                     '%s run WORKLOAD --help' lists its parameters\n\n"
           "Options:\n"
           "  --procs N          Ps (worker threads), 1..%d; default: the CPUs this\n"
           "                     process may run on (%d)\n"
           "  -h, --help         show this help\n\n"
           "Exit status: 0 ok, 1 the run failed, 2 a mistake on the command line.\n"
           "Workloads:",
           program, tgo_policy_name(), TGOBENCH_VERSION, PROTO_VERSION, program, TGO_MAX_PROCS,
           tgo_affinity_cpus());
    for (int i = 0; i < wl_count; i++) printf(" %s", wl_all[i]->name);
    printf("\n");
}

static void print_param_help(const wl_param_spec *s)
{
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", s->name);
    for (char *c = flag; *c; c++)
        if (*c == '_') *c = '-';
    printf("  %-18s %s", flag, s->help ? s->help : "");
    switch (s->type) {
    case WL_INT: printf(" (default %.15g; %.15g..%.15g)\n", s->def, s->min, s->max); break;
    case WL_FLOAT: printf(" (default %g; %g..%g)\n", s->def, s->min, s->max); break;
    case WL_BOOL: printf(" (default %s; true or false)\n", s->def ? "true" : "false"); break;
    case WL_STR:
        printf(" (default %s", s->def_str ? s->def_str : "none");
        for (int i = 0; s->choices && s->choices[i]; i++)
            printf("%s%s", i ? ", " : "; one of ", s->choices[i]);
        printf(")\n");
        break;
    }
}

static void print_workload_help(const workload *w)
{
    printf("Usage: %s [--procs N] run %s [--PARAM VALUE]... [--loops N]\n\n%s.\n"
           "The value is ns per %s.\n\nParameters:\n",
           program, w->name, w->help ? w->help : w->name, w->unit);
    for (int i = 0; i < w->nparams; i++) print_param_help(&w->params[i]);
    print_param_help(&proto_stack_size_spec);
    printf("  %-18s loops in one runtime; the result sums them (default 1; 1..%d)\n", "--loops",
           PROTO_MAX_LOOPS);
}

/* Parse --procs's value into the driver's default. */
static int set_procs(const char *text)
{
    char *end;
    long n = strtol(text, &end, 10);
    if (end == text || *end || n < 1 || n > TGO_MAX_PROCS)
        return usage_error("--procs must be an integer in 1..%d, got '%s'", TGO_MAX_PROCS, text);
    proto_set_default_procs((int)n);
    return EXIT_OK;
}

/* The name of the flag "--name[=value]" at argv[i], dashes made underscores. */
static int flag_name(const char *arg, char *name, size_t namelen)
{
    const char *eq = strchr(arg + 2, '=');
    size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    if (n == 0 || n >= namelen) return usage_error("bad option '%s'", arg);
    memcpy(name, arg + 2, n);
    name[n] = '\0';
    for (char *c = name; *c; c++)
        if (*c == '-') *c = '_';
    return EXIT_OK;
}

/* The value of the flag at argv[*i] ("--name=value" or "--name value");
 * advances *i past it. */
static int flag_text(int argc, char **argv, int *i, const char **value)
{
    const char *eq = strchr(argv[*i], '=');
    if (eq) {
        *value = eq + 1;
    } else {
        if (*i + 1 >= argc) return usage_error("option '%s' needs a value", argv[*i]);
        *value = argv[++*i];
    }
    (*i)++;
    return EXIT_OK;
}

/* A flag's text as the JSON value a request would carry: a number or a
 * boolean where it reads as one, else a string; the protocol's checks then
 * say what was expected. */
static json_value *flag_value(const char *text, bool as_string)
{
    char err[128];
    if (!as_string) {
        json_value *v = json_parse(text, strlen(text), err, sizeof err);
        if (v && (v->type == JSON_INT || v->type == JSON_FLOAT || v->type == JSON_BOOL)) return v;
        json_free(v);
    }
    return json_string(text);
}

static int print_answer(json_value *answer)
{
    char *text = json_write(answer, NULL);
    bool ok = json_get(answer, "ok") && json_get(answer, "ok")->type == JSON_BOOL &&
              json_get(answer, "ok")->u.boolean;
    printf("%s\n", text);
    fflush(stdout);
    free(text);
    json_free(answer);
    return ok ? EXIT_OK : EXIT_RUN_FAILED;
}

static int run_command(int argc, char **argv, int i)
{
    if (i >= argc || argv[i][0] == '-') {
        if (i < argc && (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)) {
            print_help();
            return EXIT_OK;
        }
        return usage_error("run needs a workload name first");
    }
    const workload *w = wl_find(argv[i]);
    if (!w) {
        char list[512];
        size_t used = 0;
        list[0] = '\0';
        for (int k = 0; k < wl_count && used < sizeof list; k++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "",
                                     wl_all[k]->name);
        return usage_error("unknown workload '%s'; known: %s", argv[i], list);
    }
    i++;

    json_value *request = json_object(), *params = json_object();
    json_set(request, "op", json_string("run"));
    json_set(request, "workload", json_string(w->name));
    json_set(request, "params", params);
    int rc = EXIT_OK;
    while (i < argc && rc == EXIT_OK) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_workload_help(w);
            json_free(request);
            return EXIT_OK;
        }
        if (strncmp(argv[i], "--", 2) != 0) {
            rc = usage_error("unexpected argument '%s'; parameters are flags like --%s N", argv[i],
                             w->nparams ? w->params[0].name : "loops");
            break;
        }
        char name[64];
        const char *value = NULL;
        const char *flag = argv[i];
        if ((rc = flag_name(flag, name, sizeof name)) != EXIT_OK) break;
        bool is_common = strcmp(name, "procs") == 0 || strcmp(name, "loops") == 0 ||
                         strcmp(name, proto_stack_size_spec.name) == 0;
        int k = wl_param_index(w, name);
        if (!is_common && k < 0) {
            rc = usage_error("unknown option '%s' for %s; '%s run %s --help' lists them", flag,
                             w->name, program, w->name);
            break;
        }
        if ((rc = flag_text(argc, argv, &i, &value)) != EXIT_OK) break;
        if (strcmp(name, "procs") == 0)
            rc = set_procs(value);
        else if (strcmp(name, "loops") == 0)
            json_set(request, "loops", flag_value(value, false));
        else
            json_set(params, name, flag_value(value, k >= 0 && w->params[k].type == WL_STR));
    }
    if (rc != EXIT_OK) {
        json_free(request);
        return rc;
    }

    char err[PROTO_ERROR_LEN];
    proto_run run;
    if (proto_parse_run(request, &run, err, sizeof err) < 0) {
        json_free(request);
        return usage_error("%s", err);
    }
    rc = print_answer(proto_execute_run(&run));
    json_free(request); /* after the run: its string arguments point into it */
    return rc;
}

/* One answer line per input line until EOF. A line longer than
 * PROTO_MAX_LINE is answered with an error and skipped, never buffered. */
static int serve(void)
{
    char *line = malloc(PROTO_MAX_LINE);
    if (!line) {
        fprintf(stderr, "%s: out of memory for the line buffer\n", program);
        return EXIT_RUN_FAILED;
    }
    for (;;) {
        size_t n = 0;
        bool too_long = false;
        int c;
        while ((c = getchar_unlocked()) != EOF && c != '\n') {
            if (n < PROTO_MAX_LINE) line[n++] = (char)c;
            else too_long = true;
        }
        if (c == EOF && n == 0) break;
        char *text;
        if (too_long) {
            char msg[160];
            snprintf(msg, sizeof msg, "the request line is longer than %d bytes", PROTO_MAX_LINE);
            json_value *answer = proto_error(msg);
            text = json_write(answer, NULL);
            json_free(answer);
        } else {
            text = proto_answer_line(line, n);
        }
        bool written = fputs(text, stdout) >= 0 && putchar_unlocked('\n') != EOF &&
                       fflush(stdout) == 0;
        free(text);
        if (!written) {
            fprintf(stderr, "%s: cannot write the answer to stdout; stopping\n", program);
            free(line);
            return EXIT_RUN_FAILED;
        }
        if (c == EOF) break;
    }
    free(line);
    return EXIT_OK;
}

/* Lift the soft RLIMIT_NOFILE to the hard limit, so that the network
 * workloads can open as many connections as the system lets them (Go's
 * runtime does the same at start). */
static void raise_file_limit(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
}

int main(int argc, char **argv)
{
    /* A peer that went away must not kill the driver: writes fail with
     * EPIPE instead (stdout, and the sockets of network workloads). */
    signal(SIGPIPE, SIG_IGN);
    raise_file_limit();
    snprintf(program, sizeof program, "tgobench-driver-%s", tgo_policy_name());

    int procs = tgo_affinity_cpus();
    proto_set_default_procs(procs < 1 ? 1 : procs > TGO_MAX_PROCS ? TGO_MAX_PROCS : procs);

    int i = 1;
    while (i < argc && strncmp(argv[i], "-", 1) == 0) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_help();
            return EXIT_OK;
        }
        if (strncmp(argv[i], "--", 2) != 0) return usage_error("unknown option '%s'", argv[i]);
        char name[64];
        const char *value = NULL;
        int rc = flag_name(argv[i], name, sizeof name);
        if (rc != EXIT_OK) return rc;
        if (strcmp(name, "procs") != 0) return usage_error("unknown option '%s'", argv[i]);
        if ((rc = flag_text(argc, argv, &i, &value)) != EXIT_OK) return rc;
        if ((rc = set_procs(value)) != EXIT_OK) return rc;
    }

    if (i >= argc || strcmp(argv[i], "serve") == 0) {
        if (i + 1 < argc) return usage_error("serve takes no arguments");
        return serve();
    }
    if (strcmp(argv[i], "hello") == 0) {
        if (i + 1 < argc) return usage_error("hello takes no arguments");
        return print_answer(proto_hello());
    }
    if (strcmp(argv[i], "run") == 0) return run_command(argc, argv, i + 1);
    return usage_error("unknown command '%s'; commands: serve, hello, run", argv[i]);
}
