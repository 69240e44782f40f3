/*
 * topology.c - which CPUs share what, read from sysfs, so that the tgo
 * policy can steal from the nearest victim first.
 *
 * The model. Stealing a task moves its working set; the cost of that move
 * depends on what the two CPUs share. We name five levels, nearest first:
 *
 *     0  SMT siblings     the same core: every cache is shared
 *     1  shared L2        different cores under one L2 (some Arm and Intel
 *                         E-core clusters; rarely on x86 P-cores)
 *     2  shared LLC       the last-level cache: a socket on Intel, one CCX
 *                         on AMD Zen, where a socket holds several LLCs
 *     3  same NUMA node   memory is local, caches are not
 *     4  remote           everything else
 *
 * The level of a pair is the first of these that holds, so SMT siblings
 * (which also share L2 and LLC) are level 0. Each CPU gets one group id per
 * kind of sharing: the lowest CPU of its thread_siblings_list, of its L2's
 * shared_cpu_list, of its LLC's shared_cpu_list (LLC: the highest cache
 * level the CPU lists), and its node from devices/system/node/node<N>/cpulist.
 * Two CPUs share a thing exactly when their ids for it are equal, so a
 * level is a few compares and the table is O(CPUs), not O(CPUs^2).
 *
 * Numbering. CPUs and nodes keep the kernel's numbers (CPU 17 is the one
 * sched_setaffinity calls 17). ncpus is one more than the highest present
 * CPU, so a CPU number indexes every table; a hole in `present` is a CPU
 * that is not there: node -1, level -1 with every other CPU.
 *
 * Missing files are facts, not errors: a VM often has no cache directories
 * (nothing is known to be shared, so such CPUs are at best level 3), a
 * kernel without NUMA has no node directory (one node, 0), an offline CPU
 * has no topology (no siblings). Only an unreadable CPU list (`present`,
 * else `online`), malformed contents or an I/O error fail the read, as a
 * negative errno: -ENOENT for a root that is not a sysfs tree.
 *
 * The root is a parameter so that tests can describe machines this one is
 * not: two sockets, SMT, several LLCs per socket (tests/fixtures/sysfs/).
 *
 * Rejected: /proc/cpuinfo (x86-only fields, and no cache sharing);
 * hwloc (a dependency the size of the runtime, to read a dozen files);
 * an n x n level matrix (64 MiB at 8192 CPUs for what a few ids answer);
 * "core_id"/"physical_package_id" (package is not LLC on AMD, and core ids
 * repeat across packages).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

/* Far above any kernel's NR_CPUS (8192); a bound on malformed input. */
#define MAX_CPUS 65536
#define MAX_NODES 4096
/* A cpulist of MAX_CPUS CPUs with every other one missing fits easily. */
#define MAX_FILE_BYTES (1 << 20)

typedef struct cpu_place {
    int present;
    int smt;        /* lowest CPU of thread_siblings_list; -1 unknown */
    int l2;         /* lowest CPU sharing the L2; -1 unknown */
    int llc_level;  /* the cache level that is last for this CPU; 0 none */
    int llc;        /* lowest CPU sharing that cache; -1 unknown */
    int node;       /* NUMA node; -1 when no node lists the CPU */
} cpu_place;

struct tgo_topology {
    int ncpus;
    int nnodes;
    cpu_place *cpu; /* ncpus entries */
};

/* ---- reading files ------------------------------------------------------ */

/* Read a whole small file into a fresh NUL-terminated buffer. 0 or -errno;
 * -ENOENT means the file is not there. */
static int read_file(const char *path, char **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t cap = 256, len = 0;
    char *buf = malloc(cap);
    int rc = buf != NULL ? 0 : -ENOMEM;
    while (rc == 0) {
        if (len + 1 == cap) {
            char *bigger = cap < MAX_FILE_BYTES ? realloc(buf, cap * 2) : NULL;
            if (bigger == NULL) {
                rc = cap < MAX_FILE_BYTES ? -ENOMEM : -EFBIG;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno != EINTR)
            rc = -errno;
        else if (n == 0)
            break;
        else if (n > 0)
            len += (size_t)n;
    }
    close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

static int path_of(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int path_of(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* ---- CPU lists: "0-3,8-11", "5", or empty ------------------------------ */

static int parse_uint(const char **s, int max, int *out)
{
    const char *p = *s;
    long v = 0;
    if (*p < '0' || *p > '9')
        return -EINVAL;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        if (v > max)
            return -EINVAL;
        p++;
    }
    *s = p;
    *out = (int)v;
    return 0;
}

typedef int (*range_fn)(int lo, int hi, void *arg);

/* Call each(lo, hi, arg) for every range of a CPU list, as the kernel
 * prints them: "%d" or "%d-%d" joined by commas, then a newline; an empty
 * list is just the newline. -EINVAL on anything else; a non-zero return of
 * each() stops the walk and is returned. */
static int cpulist_parse(const char *s, range_fn each, void *arg)
{
    while (*s != '\0' && *s != '\n') {
        int lo, hi;
        if (parse_uint(&s, MAX_CPUS - 1, &lo) < 0)
            return -EINVAL;
        hi = lo;
        if (*s == '-' && (s++, parse_uint(&s, MAX_CPUS - 1, &hi) < 0 || hi < lo))
            return -EINVAL;
        int rc = each(lo, hi, arg);
        if (rc != 0)
            return rc;
        if (*s == ',' && (s[1] == '\0' || s[1] == '\n'))
            return -EINVAL;
        if (*s == ',')
            s++;
        else if (*s != '\0' && *s != '\n')
            return -EINVAL;
    }
    return *s == '\n' && s[1] != '\0' ? -EINVAL : 0;
}

static int lowest_of_range(int lo, int hi, void *arg)
{
    (void)hi;
    int *lowest = arg;
    if (*lowest < 0 || lo < *lowest)
        *lowest = lo;
    return 0;
}

/* Read a CPU list file and return its lowest CPU, the id of the group it
 * names; a missing file or an empty list is -1. */
static int read_group(const char *path, int *group)
{
    char *list;
    *group = -1;
    int rc = read_file(path, &list);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    rc = cpulist_parse(list, lowest_of_range, group);
    free(list);
    return rc;
}

/* ---- the reader --------------------------------------------------------- */

static int highest_of_range(int lo, int hi, void *arg)
{
    (void)lo;
    int *highest = arg;
    if (hi > *highest)
        *highest = hi;
    return 0;
}

static int mark_present(int lo, int hi, void *arg)
{
    tgo_topology *t = arg;
    for (int c = lo; c <= hi; c++)
        t->cpu[c].present = 1;
    return 0;
}

/* CPUs present (else online): sizes the tables and marks the CPUs there. */
static int read_present(tgo_topology *t, const char *root)
{
    char path[PATH_MAX];
    char *list = NULL;
    int rc = path_of(path, sizeof path, "%s/devices/system/cpu/present", root);
    if (rc == 0)
        rc = read_file(path, &list);
    if (rc == -ENOENT) {
        rc = path_of(path, sizeof path, "%s/devices/system/cpu/online", root);
        if (rc == 0)
            rc = read_file(path, &list);
    }
    if (rc < 0)
        return rc;

    int highest = -1;
    rc = cpulist_parse(list, highest_of_range, &highest);
    if (rc == 0 && highest < 0)
        rc = -EINVAL; /* a machine with no CPU */
    if (rc == 0) {
        t->ncpus = highest + 1;
        t->cpu = calloc((size_t)t->ncpus, sizeof t->cpu[0]);
        rc = t->cpu != NULL ? cpulist_parse(list, mark_present, t) : -ENOMEM;
    }
    free(list);
    return rc;
}

static int read_int_file(const char *path, int *value)
{
    char *text;
    int rc = read_file(path, &text);
    if (rc < 0)
        return rc;
    const char *p = text;
    rc = parse_uint(&p, INT_MAX, value);
    if (rc == 0 && *p != '\n' && *p != '\0')
        rc = -EINVAL;
    free(text);
    return rc;
}

/* The CPU's caches: cache/index<N>/{level,type,shared_cpu_list}. An index
 * without level or list says nothing; instruction caches are skipped. */
static int read_caches(cpu_place *c, const char *root, int cpu)
{
    char dirpath[PATH_MAX];
    int rc = path_of(dirpath, sizeof dirpath, "%s/devices/system/cpu/cpu%d/cache", root, cpu);
    if (rc < 0)
        return rc;
    DIR *dir = opendir(dirpath);
    if (dir == NULL)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;

    struct dirent *e;
    while (rc == 0 && (e = readdir(dir)) != NULL) {
        if (strncmp(e->d_name, "index", 5) != 0)
            continue;
        char path[PATH_MAX];
        int level, group;
        char *type = NULL;
        if ((rc = path_of(path, sizeof path, "%s/%s/level", dirpath, e->d_name)) < 0)
            break;
        if ((rc = read_int_file(path, &level)) == -ENOENT) {
            rc = 0;
            continue;
        }
        if (rc < 0)
            break;
        if ((rc = path_of(path, sizeof path, "%s/%s/type", dirpath, e->d_name)) < 0)
            break;
        rc = read_file(path, &type);
        if (rc == 0 && strncmp(type, "Instruction", 11) == 0) {
            free(type);
            continue;
        }
        free(type);
        if (rc < 0 && rc != -ENOENT)
            break;
        if ((rc = path_of(path, sizeof path, "%s/%s/shared_cpu_list", dirpath, e->d_name)) < 0)
            break;
        if ((rc = read_group(path, &group)) < 0)
            break;
        if (group < 0)
            continue;
        if (level == 2)
            c->l2 = group;
        if (level > c->llc_level) {
            c->llc_level = level;
            c->llc = group;
        }
    }
    closedir(dir);
    return rc;
}

static int read_cpus(tgo_topology *t, const char *root)
{
    for (int cpu = 0; cpu < t->ncpus; cpu++) {
        cpu_place *c = &t->cpu[cpu];
        c->smt = c->l2 = c->llc = c->node = -1;
        if (!c->present)
            continue;
        char path[PATH_MAX];
        int rc = path_of(path, sizeof path,
                         "%s/devices/system/cpu/cpu%d/topology/thread_siblings_list", root, cpu);
        if (rc == 0)
            rc = read_group(path, &c->smt);
        if (rc == 0)
            rc = read_caches(c, root, cpu);
        if (rc < 0)
            return rc;
    }
    return 0;
}

struct node_fill {
    tgo_topology *t;
    int node;
};

static int fill_node(int lo, int hi, void *arg)
{
    struct node_fill *f = arg;
    for (int c = lo; c <= hi && c < f->t->ncpus; c++)
        if (f->t->cpu[c].present)
            f->t->cpu[c].node = f->node;
    return 0;
}

/* NUMA nodes from devices/system/node/node<N>/cpulist. No node directory
 * (a kernel without NUMA): one node holding every CPU. nnodes is one more
 * than the highest node, so node numbers index per-node tables; a node
 * without CPUs (memory only) counts. */
static int read_nodes(tgo_topology *t, const char *root)
{
    char dirpath[PATH_MAX];
    int rc = path_of(dirpath, sizeof dirpath, "%s/devices/system/node", root);
    if (rc < 0)
        return rc;
    DIR *dir = opendir(dirpath);
    if (dir == NULL && errno != ENOENT && errno != ENOTDIR)
        return -errno;

    int highest = -1;
    struct dirent *e;
    while (dir != NULL && rc == 0 && (e = readdir(dir)) != NULL) {
        const char *num = e->d_name + 4;
        int node;
        if (strncmp(e->d_name, "node", 4) != 0 || parse_uint(&num, MAX_NODES - 1, &node) < 0 ||
            *num != '\0')
            continue;
        char path[PATH_MAX];
        char *list;
        if ((rc = path_of(path, sizeof path, "%s/%s/cpulist", dirpath, e->d_name)) < 0)
            break;
        if ((rc = read_file(path, &list)) == -ENOENT) {
            rc = 0;
            continue;
        }
        if (rc < 0)
            break;
        highest = node > highest ? node : highest;
        struct node_fill fill = {t, node};
        rc = cpulist_parse(list, fill_node, &fill);
        free(list);
    }
    if (dir != NULL)
        closedir(dir);
    if (rc < 0)
        return rc;
    if (highest < 0) {
        for (int c = 0; c < t->ncpus; c++)
            if (t->cpu[c].present)
                t->cpu[c].node = 0;
        highest = 0;
    }
    t->nnodes = highest + 1;
    return 0;
}

tgo_topology *tgo_topology_read(const char *sysfs_root, int *err)
{
    const char *root = sysfs_root != NULL ? sysfs_root : "/sys";
    tgo_topology *t = calloc(1, sizeof *t);
    int rc = t != NULL ? 0 : -ENOMEM;
    if (rc == 0)
        rc = read_present(t, root);
    if (rc == 0)
        rc = read_cpus(t, root);
    if (rc == 0)
        rc = read_nodes(t, root);
    if (err != NULL)
        *err = rc;
    if (rc < 0) {
        tgo_topology_free(t);
        return NULL;
    }
    return t;
}

void tgo_topology_free(tgo_topology *topo)
{
    if (topo == NULL)
        return;
    free(topo->cpu);
    free(topo);
}

int tgo_topology_ncpus(const tgo_topology *topo)
{
    return topo->ncpus;
}

int tgo_topology_nnodes(const tgo_topology *topo)
{
    return topo->nnodes;
}

int tgo_topology_node_of(const tgo_topology *topo, int cpu)
{
    if (cpu < 0 || cpu >= topo->ncpus)
        return -1;
    return topo->cpu[cpu].node;
}

static int same(int a, int b)
{
    return a >= 0 && a == b;
}

int tgo_topology_level(const tgo_topology *topo, int cpu, int other)
{
    if (cpu == other || cpu < 0 || other < 0 || cpu >= topo->ncpus || other >= topo->ncpus)
        return -1;
    const cpu_place *a = &topo->cpu[cpu], *b = &topo->cpu[other];
    if (!a->present || !b->present)
        return -1;
    if (same(a->smt, b->smt))
        return 0;
    if (same(a->l2, b->l2))
        return 1;
    if (a->llc_level == b->llc_level && same(a->llc, b->llc))
        return 2;
    if (same(a->node, b->node))
        return 3;
    return 4;
}
