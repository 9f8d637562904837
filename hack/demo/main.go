//go:build linux

// Command demo is `make demo`: it starts a real node on this machine (engine/testenv/node: control plane,
// containerd, kubelet, kube-proxy, cluster DNS, loopback registry), builds the agent image from the converge
// binary given (engine/agentimage) and pushes it to the node's registry, serves the example repository
// (testdata/example) from a local Git server the Pods reach, bootstraps it with `converge bootstrap git`,
// waits until the agent Pod has everything Ready, commits a change and times how long the agent takes to
// apply it. It then stops the node and puts the host back (with -keep, only after Ctrl-C).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/converge-gitops/converge/engine/agentimage"
	"github.com/converge-gitops/converge/engine/install"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
	"github.com/converge-gitops/converge/engine/testenv/node"
)

const (
	// tag is the agent image's tag in the node's registry.
	tag = "demo"
	// clusterPath is the example repository's cluster folder, the one bootstrap syncs.
	clusterPath = "clusters/demo"
	// greeterValues is the file the demo's commit changes, and the value before and after.
	greeterValues = "apps/greeter/helmrelease.yaml"
	greetingOld   = "greeting: hello from ${environment}"
	greetingNew   = "greeting: hello from ${environment}, changed by a commit"
	// greetingApplied is the greeter ConfigMap's value once the agent applied the commit (postBuild
	// substitutes ${environment}).
	greetingApplied = "hello from demo, changed by a commit"
)

var (
	gitRepositories = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "gitrepositories"}
	kustomizations  = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
	helmReleases    = schema.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"}
)

func main() {
	converge := flag.String("converge", "", "static linux converge binary: run as the CLI and put into the agent image")
	example := flag.String("example", "testdata/example", "the example repository's files")
	keep := flag.Bool("keep", false, "keep the node running after the demo until Ctrl-C")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *converge, *example, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "✗", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, converge, example string, keep bool) (err error) {
	begin := time.Now()
	if converge == "" {
		return errors.New("-converge is required")
	}
	if os.Geteuid() != 0 {
		return errors.New(notRoot)
	}
	before, err := node.HostState()
	if err != nil {
		return err
	}
	step("starting a Kubernetes node on this machine: control plane, containerd, kubelet, kube-proxy, cluster DNS, a loopback registry")
	env, err := node.Start(ctx, node.Options{})
	if err != nil {
		return fmt.Errorf("starting the node: %w", err)
	}
	defer func() {
		step("stopping the node and restoring the host")
		if serr := env.Stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("stopping the node: %w", serr))
			return
		}
		after, serr := node.HostState()
		switch {
		case serr != nil:
			err = errors.Join(err, serr)
		case after != before:
			err = errors.Join(err, fmt.Errorf("the node left the host changed:\nbefore:\n%s\nafter:\n%s", before, after))
		default:
			fmt.Println("  host restored: bridge, iptables chains, sysctls and the folders the node wrote are as before")
		}
	}()
	fmt.Printf("  node %s Ready in %s (control plane %s, registry+containerd %s, kubelet to Ready %s)\n", node.NodeName,
		round(env.Timings.Total), round(env.Timings.ControlPlane), round(env.Timings.Runtime), round(env.Timings.NodeReady))

	mark := time.Now()
	step("building the agent image from %s and pushing it to the node's registry", converge)
	platform := "linux/" + runtime.GOARCH
	idx, err := agentimage.Build(ctx, agentimage.Options{
		Binaries: map[string]string{platform: converge},
		Version:  tag,
		Revision: "demo",
		Source:   "https://github.com/converge-gitops/converge",
		Created:  time.Unix(0, 0),
	})
	if err != nil {
		return fmt.Errorf("building the agent image: %w", err)
	}
	image := env.Registry + "/converge"
	digest, err := agentimage.Push(ctx, idx, image+":"+tag)
	if err != nil {
		return err
	}
	fmt.Printf("  %s:%s@%s (%s) in %s\n", image, tag, digest, platform, round(time.Since(mark)))

	// The Git server listens on the bridge, where the agent's Pod reaches it.
	gitRoot, err := os.MkdirTemp("", "converge-demo-git-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(gitRoot)
	l, err := net.Listen("tcp", net.JoinHostPort(node.Gateway, "0"))
	if err != nil {
		return fmt.Errorf("the Git server: %w", err)
	}
	srv := &http.Server{Handler: sourcetest.GitHTTPHandler(gitRoot), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	url := fmt.Sprintf("http://%s/example.git", l.Addr())
	bare, work := filepath.Join(gitRoot, "example.git"), filepath.Join(gitRoot, "work")
	step("serving the example repository (%s, without %s/flux-system, which bootstrap writes) at %s", example, clusterPath, url)
	if err := git(ctx, gitRoot, "init", "-q", "--bare", bare); err != nil {
		return err
	}
	if err := git(ctx, gitRoot, "--git-dir", bare, "config", "http.receivepack", "true"); err != nil {
		return err
	}
	if err := git(ctx, gitRoot, "init", "-q", "-b", "main", work); err != nil {
		return err
	}
	if err := git(ctx, work, "remote", "add", "origin", bare); err != nil {
		return err
	}
	// The repository as it is before its first bootstrap: the example's flux-system folder (for
	// `converge apply` of the example) names another Git URL, and bootstrap writes its own.
	if err := copyTree(example, work, filepath.Join(example, clusterPath, "flux-system")); err != nil {
		return err
	}
	if err := commitAndPush(ctx, work, "the example repository"); err != nil {
		return err
	}

	cv := func(args ...string) error {
		return runCmd(ctx, converge, append(args, "--kubeconfig", env.KubeconfigPath)...)
	}
	mark = time.Now()
	step("converge bootstrap git --url %s --path %s: commits the agent's manifests, installs them, waits for the agent Pod to sync", url, clusterPath)
	if err := cv("bootstrap", "git", "--url", url, "--allow-insecure-http", "--token-auth", "--password", "demo", "--branch", "main",
		"--path", clusterPath, "--image", image, "--version", tag, "--silent", "--timeout", "5m"); err != nil {
		return err
	}
	bootstrapped := time.Since(mark)
	pods, err := env.Client.CoreV1().Pods("flux-system").List(ctx, metav1.ListOptions{LabelSelector: install.AppLabel + "=" + install.AgentName})
	if err != nil {
		return err
	}
	for _, p := range pods.Items {
		fmt.Printf("  agent Pod %s on node %s runs %s\n", p.Name, p.Spec.NodeName, p.Spec.Containers[0].Image)
	}
	if err := git(ctx, work, "pull", "-q", "origin", "main"); err != nil {
		return err
	}
	head, err := gitOut(ctx, work, "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		return err
	}
	step("waiting for the agent to reconcile infrastructure, then apps and its HelmRelease (apps dependsOn infrastructure)")
	if err := waitAllReady(ctx, dyn, "main@sha1:"+head, 5*time.Minute); err != nil {
		return err
	}
	synced := time.Since(mark)
	fmt.Printf("  bootstrap %s, everything Ready %s after bootstrap started\n", round(bootstrapped), round(synced))
	step("converge get all -A")
	if err := cv("get", "all", "-A"); err != nil {
		return err
	}

	step("a commit: %s now says %q; the agent applies it (converge reconcile source git asks it at once, as a webhook would; otherwise within the GitRepository's 1m interval)", greeterValues, greetingApplied)
	p := filepath.Join(work, greeterValues)
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), greetingOld) {
		return fmt.Errorf("%s: %q not found, the demo's commit cannot change it", p, greetingOld)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), greetingOld, greetingNew, 1)), 0o644); err != nil {
		return err
	}
	if err := commitAndPush(ctx, work, "greeter: a new greeting"); err != nil {
		return err
	}
	pushed, err := gitOut(ctx, work, "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	mark = time.Now()
	if err := cv("reconcile", "source", "git", "flux-system"); err != nil {
		return err
	}
	if err := waitFor(ctx, 3*time.Minute, "the greeter ConfigMap to say "+greetingApplied, func() (bool, string, error) {
		cm, err := env.Client.CoreV1().ConfigMaps("demo").Get(ctx, "greeter", metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		return cm.Data["greeting"] == greetingApplied, "greeting " + cm.Data["greeting"], nil
	}); err != nil {
		return err
	}
	applied := time.Since(mark)
	fmt.Printf("  commit %s applied by the agent %s after the push: ConfigMap demo/greeter says %q\n", pushed[:12], round(applied), greetingApplied)
	if err := waitAllReady(ctx, dyn, "main@sha1:"+pushed, 3*time.Minute); err != nil {
		return err
	}
	step("converge get all -A")
	if err := cv("get", "all", "-A"); err != nil {
		return err
	}
	fmt.Printf("\n✔ demo done in %s: node Ready %s, bootstrap to all Ready %s, commit to applied %s\n",
		round(time.Since(begin)), round(env.Timings.Total), round(synced), round(applied))
	if keep {
		fmt.Printf("\n► the node keeps running: export KUBECONFIG=%s; Ctrl-C stops it and restores the host\n", env.KubeconfigPath)
		<-ctx.Done()
	}
	return nil
}

// notRoot explains why the demo needs root and what to run.
const notRoot = `the demo runs a real Kubernetes node on this machine (containerd, kubelet and kube-proxy add a network
  bridge, iptables rules and cgroups, all removed when it stops), which needs root: run it as root
  (sudo make demo); the Debian packages it runs install with sudo make deps`

// waitAllReady waits until every GitRepository is Ready at rev, every Kustomization Ready with rev applied
// and every HelmRelease Ready.
func waitAllReady(ctx context.Context, dyn dynamic.Interface, rev string, timeout time.Duration) error {
	return waitFor(ctx, timeout, "every source, Kustomization and HelmRelease Ready at "+rev, func() (bool, string, error) {
		for _, r := range []struct {
			gvr   schema.GroupVersionResource
			field string
		}{{gitRepositories, "artifact.revision"}, {kustomizations, "lastAppliedRevision"}, {helmReleases, ""}} {
			list, err := dyn.Resource(r.gvr).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error(), nil
			}
			if len(list.Items) == 0 {
				return false, "no " + r.gvr.Resource, nil
			}
			for _, u := range list.Items {
				what := fmt.Sprintf("%s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
				if status, msg := ready(u); status != "True" {
					return false, fmt.Sprintf("%s Ready %s: %s", what, status, msg), nil
				}
				if r.field != "" {
					got, _, _ := unstructured.NestedString(u.Object, append([]string{"status"}, strings.Split(r.field, ".")...)...)
					if got != rev {
						return false, fmt.Sprintf("%s at %q", what, got), nil
					}
				}
			}
		}
		return true, "", nil
	})
}

// ready returns the status and message of u's Ready condition.
func ready(u unstructured.Unstructured) (string, string) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" {
			s, _ := m["status"].(string)
			msg, _ := m["message"].(string)
			return s, msg
		}
	}
	return "Unknown", "no Ready condition yet"
}

// waitFor polls cond every 200 ms until it holds, ctx ends or timeout passes (the error names the last state).
func waitFor(ctx context.Context, timeout time.Duration, what string, cond func() (bool, string, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, state, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not within %s: %s", what, timeout, state)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// copyTree copies the regular files under src into dst, except the folder skip.
func copyTree(src, dst, skip string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip && d.IsDir() {
			return filepath.SkipDir
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

func commitAndPush(ctx context.Context, work, msg string) error {
	for _, args := range [][]string{{"add", "-A"}, {"commit", "-q", "-m", msg}, {"push", "-q", "origin", "HEAD:main"}} {
		if err := git(ctx, work, args...); err != nil {
			return err
		}
	}
	return nil
}

// git runs git in dir with a fixed identity and no user or system configuration.
func git(ctx context.Context, dir string, args ...string) error {
	_, err := gitOut(ctx, dir, args...)
	return err
}

func gitOut(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-c", "init.defaultBranch=main", "-c", "commit.gpgSign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=converge demo", "GIT_AUTHOR_EMAIL=demo@example.com",
		"GIT_COMMITTER_NAME=converge demo", "GIT_COMMITTER_EMAIL=demo@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// runCmd runs converge with its output on ours, echoing the command without the trailing --kubeconfig.
func runCmd(ctx context.Context, path string, args ...string) error {
	fmt.Printf("$ converge %s\n", strings.Join(args[:len(args)-2], " "))
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("converge %s: %w", args[0], err)
	}
	return nil
}

func step(format string, args ...any) {
	fmt.Printf("\n► "+format+"\n", args...)
}

func round(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
