package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// apiServer is kube-apiserver once the Cluster restarted it: envtest started the first process, the
// Cluster owns the later ones.
type apiServer struct {
	path string
	args []string
	cmd  *exec.Cmd
	done chan error
}

// StopAPIServer stops kube-apiserver with sig (SIGTERM: a graceful shutdown, SIGKILL: a crash) and waits
// until it has exited; etcd keeps running with its data. StartAPIServer starts it again. Fault tests use
// them to restart the API server under a client; Linux only (the first process is found in /proc).
func (c *Cluster) StopAPIServer(ctx context.Context, sig syscall.Signal) error {
	if c.api == nil || c.api.cmd == nil {
		if err := c.adoptAPIServer(); err != nil {
			return err
		}
	}
	if c.api.cmd != nil {
		if err := c.api.cmd.Process.Signal(sig); err != nil {
			return fmt.Errorf("signalling kube-apiserver: %w", err)
		}
		select {
		case <-c.api.done:
		case <-ctx.Done():
			return fmt.Errorf("waiting for kube-apiserver to exit: %w", ctx.Err())
		}
		c.api.cmd = nil
		return nil
	}
	pid := c.apiPID
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("signalling kube-apiserver (pid %d): %w", pid, err)
	}
	// envtest waits for its process: it is gone once reaped.
	for {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			c.apiPID = 0
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for kube-apiserver (pid %d) to exit: %w", pid, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, with the same arguments (address,
// certificates, etcd) and waits until it is ready (/readyz).
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	if c.api == nil {
		return errors.New("StartAPIServer: the API server was not stopped by StopAPIServer")
	}
	if c.api.cmd != nil {
		return errors.New("StartAPIServer: the API server runs")
	}
	cmd := exec.Command(c.api.path, c.api.args...)
	cmd.Stdout, cmd.Stderr = c.logTo, c.logTo
	setProcAttrs(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	c.api.cmd, c.api.done = cmd, done
	for {
		body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) == "ok" {
			return nil
		}
		select {
		case err := <-done:
			c.api.cmd = nil
			return fmt.Errorf("kube-apiserver exited while starting: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("waiting for kube-apiserver to be ready: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stopRestartedAPIServer stops the kube-apiserver StartAPIServer started, if any.
func (c *Cluster) stopRestartedAPIServer() {
	if c.api == nil || c.api.cmd == nil {
		return
	}
	_ = c.api.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.api.done:
	case <-time.After(30 * time.Second):
		_ = c.api.cmd.Process.Kill()
		<-c.api.done
	}
	c.api.cmd = nil
}

// adoptAPIServer finds the kube-apiserver envtest started (a child of this process serving from its
// certificate directory) and records its command line.
func (c *Cluster) adoptAPIServer() error {
	if c.env == nil {
		return errors.New("the control plane is stopped")
	}
	certDir := "--cert-dir=" + c.env.ControlPlane.APIServer.CertDir
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("finding kube-apiserver: %w", err)
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || parentPID(pid) != self {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		argv := strings.Split(string(bytes.TrimRight(raw, "\x00")), "\x00")
		if filepath.Base(argv[0]) != "kube-apiserver" {
			continue
		}
		for _, a := range argv[1:] {
			if a == certDir {
				c.api, c.apiPID = &apiServer{path: argv[0], args: argv[1:]}, pid
				return nil
			}
		}
	}
	return errors.New("kube-apiserver: no child process of this test serves from " + c.env.ControlPlane.APIServer.CertDir)
}

// parentPID is pid's parent from /proc/<pid>/stat, 0 when unknown.
func parentPID(pid int) int {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}
