/*
 * protocol.h - the driver protocol, version 1.
 *
 * One JSON object per line in, exactly one JSON object per line out. Ops:
 * hello (what this driver is and runs), run (one workload, `loops` times,
 * in one runtime), topology (read a sysfs tree). Every bad input gets
 * {"ok":false,"error":"..."} that says what is wrong and how to fix it.
 */
#ifndef TGOBENCH_PROTOCOL_H
#define TGOBENCH_PROTOCOL_H

#include <stddef.h>

#include "json.h"
#include "workload.h"

enum {
    PROTO_VERSION = 1,
    PROTO_MAX_LINE = 1 << 20, /* bytes; a longer line is an error, not memory */
    PROTO_MAX_LOOPS = 1000000,
    PROTO_ERROR_LEN = 1024,
};

/* A validated run request. String args point into the request it was
 * parsed from (or into the workload's spec), so that must outlive it. */
typedef struct proto_run {
    const workload *w;
    wl_args args;
    long loops;
} proto_run;

/* The Ps a run gets unless its request names `procs`. */
void proto_set_default_procs(int procs);

/* Answer one input line (without its newline): a malloc'd JSON line. */
char *proto_answer_line(const char *line, size_t len);

/* Answer a parsed request; the caller frees the result. */
json_value *proto_answer(const json_value *request);

/* Check a run request against the workload's parameter specs and the
 * common ones (stack_size, loops, procs). 0, or -1 with err set. */
int proto_parse_run(const json_value *request, proto_run *run, char *err, size_t errlen);

/* Run a validated request in one runtime and build its answer. */
json_value *proto_execute_run(const proto_run *run);

json_value *proto_hello(void);

/* {"ok":false,"error":msg} */
json_value *proto_error(const char *msg);

/* The stack_size parameter every C workload takes besides its own. */
extern const wl_param_spec proto_stack_size_spec;

#endif
