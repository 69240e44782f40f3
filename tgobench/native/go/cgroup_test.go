package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The trees of tests/fixtures/cgroup (make_cgroup.py), which the C
// reader is checked on too; the test suite names their directory in
// TGOBENCH_CGROUP_FIXTURES, as this package is built where they are not.
func TestCgroupRoomOfEachFixtureTree(t *testing.T) {
	fixtures := os.Getenv("TGOBENCH_CGROUP_FIXTURES")
	if fixtures == "" {
		t.Skip("TGOBENCH_CGROUP_FIXTURES names no fixture trees")
	}
	trees, err := filepath.Glob(filepath.Join(fixtures, "*", "room_kib"))
	if err != nil || len(trees) == 0 {
		t.Fatalf("no fixture trees under %s (%v)", fixtures, err)
	}
	for _, expectedFile := range trees {
		tree := filepath.Dir(expectedFile)
		data, err := os.ReadFile(expectedFile)
		if err != nil {
			t.Fatal(err)
		}
		want := int64(-1)
		if text := strings.TrimSpace(string(data)); text != "none" {
			if want, err = strconv.ParseInt(text, 10, 64); err != nil {
				t.Fatalf("%s: %v", expectedFile, err)
			}
		}
		if got := cgroupRoomKiB(tree); got != want {
			t.Errorf("%s: room %d KiB, want %d", filepath.Base(tree), got, want)
		}
	}
}

func TestNoCgroupFilesIsNoLimit(t *testing.T) {
	if got := cgroupRoomKiB(t.TempDir()); got != -1 {
		t.Errorf("room %d KiB under an empty tree, want -1 (no limit)", got)
	}
}
