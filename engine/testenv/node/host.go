//go:build linux

package node

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// sysctls are the kernel settings kubelet (kernel defaults), the bridge plugin (forwarding) and kube-proxy
// may change; they are restored at Stop.
var sysctls = []string{
	"kernel.panic", "kernel.panic_on_oops", "vm.overcommit_memory", "vm.panic_on_oom",
	"kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes",
	"net.ipv4.ip_forward", "net.ipv4.conf.all.route_localnet",
	"net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables",
}

// outside are the host paths the components write to whatever their configuration says.
var outside = []string{
	"/var/lib/kubelet", "/var/log/containers", "/var/log/pods", "/var/lib/cni", "/run/containerd",
	"/run/netns", "/opt/containerd",
}

// hostState is what the node environment found on the host before it started, to put back at Stop.
type hostState struct {
	sysctls  map[string]string
	existed  map[string]map[string]bool // outside path -> entries present before (nil: the path was absent)
	cgroups  map[string]bool            // cgroup hierarchy roots already holding a kubepods group
	iptables map[string][]byte          // iptables-save / ip6tables-save output
	bridge   string
}

func sysctlPath(name string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/"))
}

func saveHost(bridge string) (*hostState, error) {
	h := &hostState{sysctls: map[string]string{}, existed: map[string]map[string]bool{}, cgroups: map[string]bool{}, iptables: map[string][]byte{}, bridge: bridge}
	for _, s := range sysctls {
		b, err := os.ReadFile(sysctlPath(s))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading sysctl %s: %w", s, err)
		}
		h.sysctls[s] = strings.TrimSpace(string(b))
	}
	for _, p := range outside {
		entries, err := os.ReadDir(p)
		if errors.Is(err, os.ErrNotExist) {
			h.existed[p] = nil
			continue
		}
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, e := range entries {
			seen[e.Name()] = true
		}
		h.existed[p] = seen
	}
	for _, root := range cgroupRoots() {
		if _, err := os.Stat(filepath.Join(root, "kubepods")); err == nil {
			h.cgroups[root] = true
		}
	}
	for _, tool := range []string{"iptables-save", "ip6tables-save"} {
		out, err := exec.Command(tool).Output()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tool, err)
		}
		h.iptables[tool] = out
	}
	if err := exec.Command("ip", "link", "show", bridge).Run(); err == nil {
		return nil, fmt.Errorf("the bridge %s already exists: another node environment runs, or one was not cleaned up (ip link del %s)", bridge, bridge)
	}
	return h, nil
}

func cgroupRoots() []string {
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return nil
	}
	var roots []string
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		roots = append(roots, "/sys/fs/cgroup")
	}
	for _, e := range entries {
		if e.IsDir() {
			roots = append(roots, filepath.Join("/sys/fs/cgroup", e.Name()))
		}
	}
	return roots
}

// kubepodsPIDs returns the processes in the kubepods cgroups the environment created.
func (h *hostState) kubepodsPIDs() []int {
	seen := map[int]bool{}
	for _, root := range cgroupRoots() {
		if h.cgroups[root] {
			continue
		}
		_ = filepath.WalkDir(filepath.Join(root, "kubepods"), func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			if err != nil {
				return nil
			}
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					seen[pid] = true
				}
			}
			return nil
		})
	}
	pids := make([]int, 0, len(seen))
	for p := range seen {
		pids = append(pids, p)
	}
	return pids
}

// restore puts the host back: it unmounts what was mounted under dir and the new network namespaces, removes
// the cgroups, paths, iptables chains and bridge the components created, and restores the sysctls. It
// expects every process to be stopped.
func (h *hostState) restore(dir string) error {
	var errs []error
	// What the components mounted: under dir, and under the outside paths that were absent or are new.
	var created []string
	for _, p := range outside {
		seen, ok := h.existed[p]
		if !ok {
			continue
		}
		if seen == nil {
			created = append(created, p)
			continue
		}
		entries, _ := os.ReadDir(p)
		for _, e := range entries {
			if !seen[e.Name()] {
				created = append(created, filepath.Join(p, e.Name()))
			}
		}
	}
	errs = append(errs, unmountUnder(dir, created...))
	for _, root := range cgroupRoots() {
		if !h.cgroups[root] {
			errs = append(errs, removeCgroup(filepath.Join(root, "kubepods")))
		}
	}
	for _, p := range outside {
		seen, ok := h.existed[p]
		if !ok {
			continue
		}
		if seen == nil {
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		entries, _ := os.ReadDir(p)
		for _, e := range entries {
			if !seen[e.Name()] {
				errs = append(errs, os.RemoveAll(filepath.Join(p, e.Name())))
			}
		}
	}
	for tool, saved := range h.iptables {
		errs = append(errs, restoreIPTables(strings.TrimSuffix(tool, "-save"), saved))
	}
	if err := exec.Command("ip", "link", "show", h.bridge).Run(); err == nil {
		if out, err := exec.Command("ip", "link", "del", h.bridge).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("removing the bridge %s: %v: %s", h.bridge, err, out))
		}
	}
	for s, v := range h.sysctls {
		b, err := os.ReadFile(sysctlPath(s))
		if err == nil && strings.TrimSpace(string(b)) == v {
			continue
		}
		if err := os.WriteFile(sysctlPath(s), []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restoring sysctl %s=%s: %w", s, v, err))
		}
	}
	return errors.Join(errs...)
}

// unmountUnder lazily unmounts every mount point under dir and at or under paths, deepest first.
func unmountUnder(dir string, paths ...string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if strings.HasPrefix(mp, dir+"/") {
			points = append(points, mp)
			continue
		}
		for _, p := range paths {
			if mp == p || strings.HasPrefix(mp, p+"/") {
				points = append(points, mp)
				break
			}
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeCgroup removes a cgroup and its children, deepest first.
func removeCgroup(path string) error {
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	var dirs []string
	_ = filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	var errs []error
	for _, d := range dirs {
		if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("removing cgroup %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// restoreIPTables restores the saved rules of every table saved, and empties the tables that did not exist
// then (kube-proxy and the CNI plugins add chains to nat, filter and mangle).
func restoreIPTables(tool string, saved []byte) error {
	tables := func(b []byte) map[string]bool {
		t := map[string]bool{}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "*") {
				t[strings.TrimPrefix(l, "*")] = true
			}
		}
		return t
	}
	before := tables(saved)
	now, err := exec.Command(tool + "-save").Output()
	if err != nil {
		return fmt.Errorf("%s-save: %w", tool, err)
	}
	var errs []error
	for t := range tables(now) {
		if before[t] {
			continue
		}
		for _, args := range [][]string{{"-t", t, "-F"}, {"-t", t, "-X"}} {
			if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %v: %s", tool, strings.Join(args, " "), err, out))
			}
		}
	}
	if len(before) > 0 {
		cmd := exec.Command(tool + "-restore")
		cmd.Stdin = bytes.NewReader(saved)
		if out, err := cmd.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s-restore: %v: %s", tool, err, out))
		}
	}
	return errors.Join(errs...)
}
