package release

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	ri "helm.sh/helm/v4/pkg/release"
	helmrel "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/engine/helmrelease"
)

// observingDriver passes every write of Helm's storage to observe (after it succeeded).
type observingDriver struct {
	driver.Driver
	observe func(*helmrel.Release)
}

func (d *observingDriver) Create(key string, r ri.Releaser) error {
	rls, ok := r.(*helmrel.Release)
	if !ok {
		return fmt.Errorf("release %s: %T is not a Helm v1 release", key, r)
	}
	if err := d.Driver.Create(key, rls); err != nil {
		return err
	}
	if d.observe != nil {
		d.observe(rls)
	}
	return nil
}

func (d *observingDriver) Update(key string, r ri.Releaser) error {
	rls, ok := r.(*helmrel.Release)
	if !ok {
		return fmt.Errorf("release %s: %T is not a Helm v1 release", key, r)
	}
	if err := d.Driver.Update(key, rls); err != nil {
		return err
	}
	if d.observe != nil {
		d.observe(rls)
	}
	return nil
}

// observation is what a snapshot digest covers: the release record without the chart's templates
// and files, and without test hooks (anyone may run `helm test`).
type observation struct {
	Name          string         `json:"name"`
	Version       int            `json:"version"`
	Info          helmrel.Info   `json:"info"`
	ChartMetadata chart.Metadata `json:"chartMetadata"`
	Config        map[string]any `json:"config"`
	Manifest      string         `json:"manifest"`
	Hooks         []helmrel.Hook `json:"hooks"`
	Namespace     string         `json:"namespace"`
	OCIDigest     string         `json:"ociDigest"`
}

func observe(rls *helmrel.Release, ociDigest string) observation {
	o := observation{Name: rls.Name, Version: rls.Version, Manifest: rls.Manifest, Namespace: rls.Namespace,
		OCIDigest: ociDigest}
	if len(rls.Config) > 0 { // stored records drop an empty config
		o.Config = rls.Config
	}
	if rls.Info != nil {
		o.Info = *rls.Info
		o.Info.Resources = nil
	}
	if rls.Chart != nil && rls.Chart.Metadata != nil {
		o.ChartMetadata = *rls.Chart.Metadata
	}
	for _, h := range rls.Hooks {
		if h != nil && !isTestHook(h) {
			o.Hooks = append(o.Hooks, *h)
		}
	}
	return o
}

func (o observation) digest() string {
	h := sha256.New()
	if err := json.NewEncoder(h).Encode(o); err != nil {
		return ""
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func isTestHook(h *helmrel.Hook) bool {
	for _, e := range h.Events {
		if e == helmrel.HookTest {
			return true
		}
	}
	return false
}

// Snapshot is the status.history entry of a release record, as helm-controller writes it. ociDigest is
// the digest of the OCI artifact the chart came from, if any.
func Snapshot(rls *helmrel.Release, ociDigest string) *helmv2.Snapshot {
	o := observe(rls, ociDigest)
	s := &helmv2.Snapshot{
		APIVersion:   helmv2.CurrentSnapshotAPIVersion,
		Digest:       o.digest(),
		Name:         rls.Name,
		Namespace:    rls.Namespace,
		Version:      rls.Version,
		ChartName:    o.ChartMetadata.Name,
		ChartVersion: o.ChartMetadata.Version,
		AppVersion:   o.ChartMetadata.AppVersion,
		ConfigDigest: helmrelease.DigestValues(rls.Config),
		OCIDigest:    ociDigest,
	}
	if rls.Info != nil {
		s.Status = rls.Info.Status.String()
		s.FirstDeployed = metav1.NewTime(rls.Info.FirstDeployed)
		s.LastDeployed = metav1.NewTime(rls.Info.LastDeployed)
		if !rls.Info.Deleted.IsZero() {
			s.Deleted = metav1.NewTime(rls.Info.Deleted)
		}
	}
	return s
}

// testHooks are the test hooks of a release record, by name, with their last run.
func testHooks(rls *helmrel.Release) map[string]*helmv2.TestHookStatus {
	out := map[string]*helmv2.TestHookStatus{}
	for _, h := range rls.Hooks {
		if h == nil || !isTestHook(h) {
			continue
		}
		st := &helmv2.TestHookStatus{Phase: h.LastRun.Phase.String()}
		if !h.LastRun.StartedAt.IsZero() {
			st.LastStarted = metav1.NewTime(h.LastRun.StartedAt)
		}
		if !h.LastRun.CompletedAt.IsZero() {
			st.LastCompleted = metav1.NewTime(h.LastRun.CompletedAt)
		}
		if h.LastRun.Phase == "" {
			st = nil
		}
		out[h.Name] = st
	}
	return out
}

// verify reports whether rls is the release record snap was taken of.
func verify(snap *helmv2.Snapshot, rls *helmrel.Release) bool {
	return snap != nil && rls != nil && observe(rls, snap.OCIDigest).digest() == snap.Digest
}

// observedReleases collects the snapshots of the release records an action wrote, by version, taken
// when they were written.
type observedReleases map[int]*helmv2.Snapshot

func (o observedReleases) versions() []int {
	var vs []int
	for v := range o {
		vs = append(vs, v)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(vs)))
	return vs
}
