/*
 * mem.c - how much memory the process holds, how much the machine and the
 * process's cgroups have left, and the budget that turns running out into
 * an error.
 *
 * Tasks that wait for their children (fork-join, a spawn tree) stay alive
 * with their stacks, and how many are alive at once is the policy's doing,
 * not the workload's: a FIFO spawn order runs a tree breadth first, a
 * runnext slot nearer depth first. fib(40) with 2 KiB stacks peaked at
 * 16 GiB under gmp and outgrew 24 GiB under tgo, where the OOM killer
 * ended the driver, and whatever it had measured with it.
 *
 * So tgo_run notes the resident set and the memory available when it
 * starts, and the runtime may grow its resident set by the available
 * memory less a reserve (an eighth, at least RESERVE_MIN_KIB) for the
 * kernel's socket buffers and everybody else, or by TGOBENCH_MEM_LIMIT_MIB
 * where that is less (to keep a driver small beside other work, and for
 * the tests). The budget is checked where the memory of live tasks grows:
 * when task_alloc.c maps a new arena of descriptors, once per 32k tasks
 * alive at the run's peak, never on a spawn that reuses a descriptor. Past
 * the budget, tgo_spawn returns -ENOMEM and the workload reports it.
 * The growth between two checks (one arena's tasks, each with a stack that
 * was touched) is what the reserve must absorb.
 *
 * The memory available is the kernel's MemAvailable, or less where a
 * cgroup limits the process (a container's memory limit, a CI job's
 * slice): MemAvailable does not see those, and past one the OOM killer
 * ends the driver as surely. A cgroup leaves its limit less its working
 * set, which is its usage less the inactive file cache the kernel reclaims
 * before it kills (the figure container runtimes evict by); the process's
 * cgroup and each ancestor it can see may limit it, and the least room
 * counts. Both versions: v2's memory.max (or memory.high, where the kernel
 * starts to throttle, when lower), memory.current and inactive_file,
 * v1's memory.limit_in_bytes, memory.usage_in_bytes and total_inactive_file
 * (each hierarchical). Where v1's memory controller is mounted it is the
 * one that charges, even beside a v2 mount (the hybrid layout). The
 * process's cgroup directory is its path in /proc/self/cgroup under the
 * hierarchy's mount point in /proc/self/mountinfo, less the root the mount
 * shows (a container sees its own cgroup mounted at /sys/fs/cgroup).
 * Rejected: reading only /sys/fs/cgroup/memory.max, which is the root
 * cgroup's, with no limit, on a host where the process's cgroup has one.
 *
 * The cgroups are read at tgo_run's start, on the caller's stack; a task,
 * whose stack may be 2 KiB, gets that room less what the resident set has
 * grown by since, and reads only small files, with no stdio. Rejected:
 * keeping the cgroups' directories open to read them from a task, which
 * held descriptors for the process's life. Without /proc the memory
 * available is unknown and the budget unlimited.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

enum { RESERVE_MIN_KIB = 256 * 1024 };
/* v1 writes "no limit" as the largest page-aligned count, 2^63 less a page */
static const int64_t CGROUP_UNLIMITED_FROM = INT64_C(1) << 62;

static int64_t budget_kib = -1;     /* the largest resident set allowed; -1: unknown */
static int64_t rss_at_start = -1;   /* KiB, at the latest tgo_run's start */
static int64_t room_at_start = -1;  /* the cgroups' room then, KiB; -1: no limit */

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

static int64_t meminfo_available_kib(void)
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

/* ---- the cgroups' limits ---------------------------------------------------- */

/* A whole file, NUL-terminated, in memory from malloc; NULL if unreadable.
 * Only while the cgroups are looked for (/proc files report no size). */
static char *read_all(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0) {
            if (n < 0) {
                free(buf);
                buf = NULL;
            }
            break;
        }
        len += (size_t)n;
        if (len == cap - 1) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    close(fd);
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* Whether word is one of the comma-separated items of list. */
static bool has_item(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *s = list; s; s = strchr(s, ',') ? strchr(s, ',') + 1 : NULL)
        if (strncmp(s, word, n) == 0 && (s[n] == ',' || s[n] == '\0'))
            return true;
    return false;
}

/* The process's path in its memory hierarchy, from /proc/self/cgroup's
 * lines "id:controllers:path": v1's memory controller's, else v2's (id 0,
 * no controllers). *v1 says which. Points into text, which it cuts. */
static char *cgroup_path(char *text, bool *v1)
{
    char *v2 = NULL, *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *controllers = strchr(line, ':');
        char *path = controllers ? strchr(controllers + 1, ':') : NULL;
        if (!path)
            continue;
        *controllers++ = *path++ = '\0';
        if (has_item(controllers, "memory")) {
            *v1 = true;
            return path;
        }
        if (strcmp(line, "0") == 0 && *controllers == '\0')
            v2 = path;
    }
    *v1 = false;
    return v2;
}

/* Where path lies below the mount root, or NULL if the root is neither
 * path nor one of its ancestors. */
static const char *below_root(const char *root, const char *path)
{
    size_t n = strlen(root);
    if (strcmp(root, "/") == 0)
        return path;
    return strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0') ? path + n : NULL;
}

/* The hierarchy's mount in /proc/self/mountinfo, whose lines read "id
 * parent dev root point options [tags] - fstype source superoptions":
 * its mount point, and in *rel where the process's path lies below it.
 * A mount whose root holds the path wins; else the first, whose root the
 * process cannot see (a cgroup namespace), and its mount point. NULL if
 * there is none. Points into text, which it cuts. */
static char *hierarchy_mount(char *text, bool v1, const char *path, const char **rel)
{
    char *fallback = NULL, *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *field[5], *rest = line;
        int i = 0;
        while (i < 5 && (field[i] = strsep(&rest, " ")))
            i++;
        char *after = rest ? strstr(rest, " - ") : NULL;
        if (i < 5 || !after)
            continue;
        after += 3;
        char *fstype = strsep(&after, " ");
        char *superopts = after ? strchr(after, ' ') : NULL; /* past the source */
        bool ours = v1 ? strcmp(fstype, "cgroup") == 0 && superopts &&
                             has_item(superopts + 1, "memory")
                       : strcmp(fstype, "cgroup2") == 0;
        if (!ours)
            continue;
        if ((*rel = below_root(field[3], path)))
            return field[4];
        if (!fallback)
            fallback = field[4];
    }
    *rel = "";
    return fallback;
}

/* dir/name into path (PATH_MAX bytes); false if it does not fit. */
static bool path_in(char *path, const char *dir, const char *name)
{
    int n = snprintf(path, PATH_MAX, "%s/%s", dir, name);
    return n > 0 && n < PATH_MAX;
}

/* The number a small file in dir holds, or -1 (v2's "max" too). */
static int64_t number_in(const char *dir, const char *name)
{
    char path[PATH_MAX], buf[32];
    if (!path_in(path, dir, name) || read_head(path, buf, sizeof buf) < 0)
        return -1;
    return parse_count(buf);
}

/* key's value in dir's memory.stat, lines of "key value"; -1 if absent. */
static int64_t stat_in(const char *dir, const char *key)
{
    char path[PATH_MAX];
    char *text = path_in(path, dir, "memory.stat") ? read_all(path) : NULL, *save = NULL;
    int64_t value = -1;
    size_t n = strlen(key);
    for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line && value < 0;
         line = strtok_r(NULL, "\n", &save))
        if (strncmp(line, key, n) == 0 && line[n] == ' ')
            value = parse_count(line + n + 1);
    free(text);
    return value;
}

/* A level's limit in bytes, or -1 if it sets none: v1's, or the lesser of
 * v2's memory.max and memory.high, past which the kernel throttles the
 * cgroup's allocations under reclaim (no OOM kill, but what a benchmark
 * measures there is the reclaim). */
static int64_t level_limit(const char *dir, bool v1)
{
    if (v1)
        return number_in(dir, "memory.limit_in_bytes");
    int64_t max = number_in(dir, "memory.max"), high = number_in(dir, "memory.high");
    return high >= 0 && (max < 0 || high < max) ? high : max;
}

/* The room one cgroup level leaves, in KiB, or -1 if it sets no limit. */
static int64_t level_room_kib(const char *dir, bool v1)
{
    int64_t limit = level_limit(dir, v1);
    if (limit < 0 || limit >= CGROUP_UNLIMITED_FROM)
        return -1;
    int64_t usage = number_in(dir, v1 ? "memory.usage_in_bytes" : "memory.current");
    int64_t cache = stat_in(dir, v1 ? "total_inactive_file" : "inactive_file");
    int64_t working = usage - (cache > 0 ? cache : 0);
    int64_t room = limit - (working > 0 ? working : 0);
    return room > 0 ? room / 1024 : 0;
}

/* The least room over dir and each ancestor up to top, the length of the
 * mount point's path; -1 if none sets a limit. Cuts dir. */
static int64_t least_room_kib(char *dir, size_t top, bool v1)
{
    int64_t least = -1;
    for (;;) {
        int64_t room = level_room_kib(dir, v1);
        if (room >= 0 && (least < 0 || room < least))
            least = room;
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) < top)
            return least;
        *slash = '\0';
    }
}

int64_t tgo__cgroup_room_kib(const char *root)
{
    char file[PATH_MAX], dir[PATH_MAX];
    char *cgroups = path_in(file, root, "proc/self/cgroup") ? read_all(file) : NULL;
    char *mounts = path_in(file, root, "proc/self/mountinfo") ? read_all(file) : NULL;
    const char *path, *point, *rel;
    bool v1;
    int64_t room = -1;
    if (cgroups && mounts && (path = cgroup_path(cgroups, &v1)) &&
        (point = hierarchy_mount(mounts, v1, path, &rel))) {
        size_t top = strlen(root) + strlen(point);
        int len = snprintf(dir, sizeof dir, "%s%s%s", root, point, rel);
        if (len > 0 && (size_t)len < sizeof dir) {
            while ((size_t)len > top && dir[len - 1] == '/') /* rel "/" */
                dir[--len] = '\0';
            room = least_room_kib(dir, top, v1);
        }
    }
    free(mounts);
    free(cgroups);
    return room;
}

int64_t tgo_mem_available_kib(void)
{
    int64_t machine = meminfo_available_kib(), room = room_at_start;
    if (room >= 0 && rss_at_start >= 0) {
        int64_t grown = tgo_rss_kib() - rss_at_start;
        room = grown <= 0 ? room : grown < room ? room - grown : 0;
    }
    if (machine < 0 || room < 0)
        return machine < 0 ? room : machine;
    return room < machine ? room : machine;
}

void tgo__mem_budget_start(uint64_t limit_mib)
{
    rss_at_start = tgo_rss_kib();
    room_at_start = tgo__cgroup_room_kib("");
    int64_t rss = rss_at_start, avail = tgo_mem_available_kib();
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
