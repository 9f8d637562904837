//go:build linux

package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

const (
	madvRandom  = 1  // MADV_RANDOM: no read-around when a page faults in
	madvPageout = 21 // MADV_PAGEOUT: reclaim the pages now (clean file pages are simply dropped)
)

// trimBinaryPages lets the kernel drop the pages of the converge executable mapped at start-up (module
// initialisation touches much of a large binary, and faults map whole read-around windows), and keeps
// later faults to the pages actually used. The agent's resident set then holds the code it runs.
func trimBinaryPages() (int, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || f[5] != exe || strings.Contains(f[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		for _, advice := range []uintptr{madvRandom, madvPageout} {
			if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), advice); errno != 0 && advice == madvRandom {
				return n, fmt.Errorf("madvise %s: %w", f[0], errno)
			}
		}
		n++
	}
	return n, sc.Err()
}
