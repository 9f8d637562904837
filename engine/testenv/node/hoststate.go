//go:build linux

package node

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// HostState describes, one fact a line, the host settings a node environment changes while it runs: the
// sysctls, the paths outside its folder, the kubepods cgroups, the network namespaces, the bridge, the
// iptables rules and chains, and processes running from an environment's folder. Compare it before Start and after Stop to see that Stop put everything back.
func HostState() (string, error) {
	var lines []string
	for _, s := range sysctls {
		b, err := os.ReadFile(sysctlPath(s))
		if err == nil {
			lines = append(lines, fmt.Sprintf("sysctl %s=%s", s, strings.TrimSpace(string(b))))
		}
	}
	for _, p := range outside {
		entries, err := os.ReadDir(p)
		if err != nil {
			lines = append(lines, "absent "+p)
			continue
		}
		for _, e := range entries {
			lines = append(lines, "present "+filepath.Join(p, e.Name()))
		}
	}
	for _, root := range cgroupRoots() {
		if _, err := os.Stat(filepath.Join(root, "kubepods")); err == nil {
			lines = append(lines, "cgroup "+filepath.Join(root, "kubepods"))
		}
	}
	if err := exec.Command("ip", "link", "show", Bridge).Run(); err == nil {
		lines = append(lines, "bridge "+Bridge)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(l); len(f) > 4 && (strings.Contains(f[4], "converge-node-") || strings.HasPrefix(f[4], "/run/netns/")) {
			lines = append(lines, "mount "+f[4])
		}
	}
	// Processes whose command line names a node environment's folder (containerd's shims).
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), "/converge-node-") {
			lines = append(lines, "process "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	for _, tool := range []string{"iptables-save", "ip6tables-save"} {
		out, err := exec.Command(tool).Output()
		if err != nil {
			return "", fmt.Errorf("%s: %w", tool, err)
		}
		table := ""
		for _, l := range strings.Split(string(out), "\n") {
			switch {
			case strings.HasPrefix(l, "*"):
				table = l[1:]
			case strings.HasPrefix(l, "-A "):
				lines = append(lines, fmt.Sprintf("%s %s: %s", tool, table, l))
			case strings.HasPrefix(l, ":"):
				// Built-in chains stay once a table exists (nftables); user chains must go.
				chain := strings.Fields(l[1:])[0]
				switch chain {
				case "PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING":
				default:
					lines = append(lines, fmt.Sprintf("%s %s: chain %s", tool, table, chain))
				}
			}
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n"), nil
}
