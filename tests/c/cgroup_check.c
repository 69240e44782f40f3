/*
 * cgroup_check.c - the room mem.c finds under a fixture tree: it prints
 * tgo__cgroup_room_kib(root), or "none" where no cgroup sets a limit, as
 * the trees' room_kib files write it.
 *
 *     cgroup_check ROOT
 */
#include <inttypes.h>
#include <stdio.h>

#include "runtime.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: cgroup_check ROOT\n");
        return 2;
    }
    int64_t room = tgo__cgroup_room_kib(argv[1]);
    if (room < 0)
        printf("none\n");
    else
        printf("%" PRId64 "\n", room);
    return 0;
}
