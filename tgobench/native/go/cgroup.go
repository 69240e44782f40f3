package main

// cgroupRoomKiB: the room the process's memory cgroups leave, found as the
// C runtime's src/mem.c finds it (its design comment gives the reasons):
// the least, over the process's cgroup and each ancestor it can see, of
// the limit less the working set (usage less inactive file cache); -1
// where none sets a limit. v1's memory controller wins over v2 where both
// are mounted. root prefixes every path: "" here, a fixture tree in tests.

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// v1 writes "no limit" as the largest page-aligned count, 2^63 less a page.
const cgroupUnlimitedFrom = 1 << 62

// high: v2's memory.high, past which the kernel throttles the cgroup under
// reclaim; the lesser of it and the limit counts. v1 has none.
type cgroupFiles struct{ limit, high, usage, inactiveKey string }

var (
	cgroupV1Files = cgroupFiles{limit: "memory.limit_in_bytes", usage: "memory.usage_in_bytes",
		inactiveKey: "total_inactive_file"}
	cgroupV2Files = cgroupFiles{limit: "memory.max", high: "memory.high", usage: "memory.current",
		inactiveKey: "inactive_file"}
)

func cgroupRoomKiB(root string) int64 {
	dir, top, files, ok := memoryCgroupDir(root)
	if !ok {
		return -1
	}
	least := int64(-1)
	for ; len(dir) >= len(top); dir = filepath.Dir(dir) {
		if room := cgroupLevelRoomKiB(dir, files); room >= 0 && (least < 0 || room < least) {
			least = room
		}
		if dir == top {
			break
		}
	}
	return least
}

// memoryCgroupDir: the process's memory cgroup directory and its
// hierarchy's mount point (both under root), from /proc/self/cgroup and
// /proc/self/mountinfo.
func memoryCgroupDir(root string) (dir, top string, files cgroupFiles, ok bool) {
	data, err := os.ReadFile(root + "/proc/self/cgroup")
	if err != nil {
		return
	}
	path, v1 := "", false
	for _, line := range strings.Split(string(data), "\n") {
		id, rest, _ := strings.Cut(line, ":")
		controllers, p, found := strings.Cut(rest, ":")
		if !found {
			continue
		}
		if slices.Contains(strings.Split(controllers, ","), "memory") {
			path, v1 = p, true
			break
		}
		if id == "0" && controllers == "" {
			path = p
		}
	}
	mounts, err := os.ReadFile(root + "/proc/self/mountinfo")
	if path == "" || err != nil {
		return
	}
	point, rel, found := hierarchyMount(string(mounts), v1, path)
	if !found {
		return
	}
	files = cgroupV2Files
	if v1 {
		files = cgroupV1Files
	}
	top = filepath.Clean(root + point)
	return filepath.Clean(top + "/" + rel), top, files, true
}

// hierarchyMount: the mount point of the hierarchy in mountinfo ("id
// parent dev root point options [tags] - fstype source superoptions") and
// the process's path below it. A mount whose root holds the path wins,
// else the first (a cgroup namespace hides the root's place).
func hierarchyMount(mountinfo string, v1 bool, path string) (point, rel string, ok bool) {
	for _, line := range strings.Split(mountinfo, "\n") {
		head, tail, found := strings.Cut(line, " - ")
		f, t := strings.Fields(head), strings.Fields(tail)
		if !found || len(f) < 5 || len(t) < 1 {
			continue
		}
		ours := t[0] == "cgroup2"
		if v1 {
			ours = t[0] == "cgroup" && len(t) >= 3 && slices.Contains(strings.Split(t[2], ","), "memory")
		}
		if !ours {
			continue
		}
		switch mountRoot := f[3]; {
		case mountRoot == "/":
			return f[4], path, true
		case path == mountRoot || strings.HasPrefix(path, mountRoot+"/"):
			return f[4], path[len(mountRoot):], true
		case !ok:
			point, rel, ok = f[4], "", true
		}
	}
	return point, rel, ok
}

// cgroupLevelRoomKiB: one level's limit (v2: the lesser of memory.max and
// memory.high) less its working set, -1 if it sets no limit.
func cgroupLevelRoomKiB(dir string, files cgroupFiles) int64 {
	limit := fileNumber(filepath.Join(dir, files.limit))
	if files.high != "" {
		if high := fileNumber(filepath.Join(dir, files.high)); high >= 0 && (limit < 0 || high < limit) {
			limit = high
		}
	}
	if limit < 0 || limit >= cgroupUnlimitedFrom {
		return -1
	}
	usage := fileNumber(filepath.Join(dir, files.usage))
	cache := lineValue(filepath.Join(dir, "memory.stat"), files.inactiveKey+" ")
	working := max(usage-max(cache, 0), 0)
	return max(limit-working, 0) / 1024
}

// fileNumber: the number a file holds, -1 if none (v2's "max" too).
func fileNumber(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return -1
	}
	return v
}
