/*
 * mem.c - how much memory the process holds, how much the machine has
 * left, and the budget that turns running out into an error.
 *
 * Tasks that wait for their children (fork-join, a spawn tree) stay alive
 * with their stacks, and how many are alive at once is the policy's doing,
 * not the workload's: a FIFO spawn order runs a tree breadth first, a
 * runnext slot nearer depth first. fib(40) with 2 KiB stacks peaked at
 * 16 GiB under gmp and outgrew 24 GiB under tgo, where the OOM killer
 * ended the driver, and whatever it had measured with it.
 *
 * So tgo_run notes the resident set and the kernel's MemAvailable when it
 * starts, and the runtime may grow its resident set by the available
 * memory less a reserve (an eighth, at least RESERVE_MIN_KIB) for the
 * kernel's socket buffers and everybody else, or by TGOBENCH_MEM_LIMIT_MIB
 * where that is less (to keep a driver small beside other work, and for
 * the tests). The budget is checked where the memory of live tasks grows:
 * when task_alloc.c maps a new arena of descriptors, once per 32k tasks
 * alive at the run's peak, never on a spawn that reuses a descriptor. Past
 * the budget, tgo_spawn returns -ENOMEM and the workload reports it.
 *
 * The growth between two checks (one arena's tasks, each with a stack that
 * was touched) is what the reserve must absorb. MemAvailable does not see
 * a cgroup's limit; without /proc the budget is unlimited, as before.
 *
 * Both readers use no stdio, so they are safe on a small task stack.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

enum { RESERVE_MIN_KIB = 256 * 1024 };

static int64_t budget_kib = -1;  /* the largest resident set allowed; -1: unknown */

/* The start of a small file, NUL-terminated: its length, or -1. */
static ssize_t read_head(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return n;
}

/* The decimal number s starts with, or -1 if it starts with none. */
static int64_t parse_count(const char *s)
{
    if (*s < '0' || *s > '9')
        return -1;
    int64_t v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (*s++ - '0');
    return v;
}

int64_t tgo_rss_kib(void)
{
    char buf[96];
    if (read_head("/proc/self/statm", buf, sizeof buf) < 0)
        return -1;
    const char *size_end = strchr(buf, ' '); /* skip the size field */
    int64_t pages = size_end ? parse_count(size_end + 1) : -1;
    return pages < 0 ? -1 : pages * (sysconf(_SC_PAGESIZE) / 1024);
}

int64_t tgo_mem_available_kib(void)
{
    static const char key[] = "MemAvailable:";
    char buf[256]; /* the third line of /proc/meminfo */
    if (read_head("/proc/meminfo", buf, sizeof buf) < 0)
        return -1;
    const char *s = strstr(buf, key);
    if (!s)
        return -1;
    for (s += sizeof key - 1; *s == ' ';)
        s++;
    return parse_count(s);
}

void tgo__mem_budget_start(uint64_t limit_mib)
{
    int64_t rss = tgo_rss_kib(), avail = tgo_mem_available_kib();
    if (rss < 0 || avail < 0) {
        budget_kib = -1;
        return;
    }
    int64_t reserve = avail / 8 > RESERVE_MIN_KIB ? avail / 8 : RESERVE_MIN_KIB;
    int64_t growth = avail > reserve ? avail - reserve : 0;
    if (limit_mib && limit_mib < (uint64_t)growth / 1024)
        growth = (int64_t)limit_mib * 1024;
    budget_kib = rss + growth;
}

bool tgo__mem_may_grow(void)
{
    if (budget_kib < 0)
        return true;
    int64_t rss = tgo_rss_kib();
    return rss < 0 || rss <= budget_kib;
}
