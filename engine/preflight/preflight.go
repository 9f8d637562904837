package preflight

import (
	"context"
	"fmt"

	"github.com/Masterminds/semver/v3"
	"k8s.io/client-go/discovery"
)

// MinKubernetesVersion is the oldest Kubernetes version converge supports, as a semver constraint.
const MinKubernetesVersion = ">=1.32.0-0"

// Result is the outcome of the prerequisite checks.
type Result struct {
	// ServerVersion is the cluster's Kubernetes version, e.g. "1.37.2".
	ServerVersion string `json:"serverVersion"`
	// Constraint is the version constraint checked.
	Constraint string `json:"constraint"`
	// Supported reports whether ServerVersion satisfies Constraint.
	Supported bool `json:"supported"`
}

// Check asks the API server for its version and compares it with MinKubernetesVersion.
// An unreachable server or an unparsable version is an error.
func Check(ctx context.Context, dc discovery.DiscoveryInterface) (Result, error) {
	res := Result{Constraint: MinKubernetesVersion}
	type answer struct {
		version string
		err     error
	}
	ch := make(chan answer, 1)
	go func() {
		info, err := dc.ServerVersion()
		if err != nil {
			ch <- answer{err: err}
			return
		}
		ch <- answer{version: info.GitVersion}
	}()
	var got answer
	select {
	case <-ctx.Done():
		return res, fmt.Errorf("cannot reach the Kubernetes API server: %w", ctx.Err())
	case got = <-ch:
	}
	if got.err != nil {
		return res, fmt.Errorf("cannot reach the Kubernetes API server: %w", got.err)
	}
	v, err := semver.NewVersion(got.version)
	if err != nil {
		return res, fmt.Errorf("the API server reports version %q, which is not a semantic version: %w", got.version, err)
	}
	res.ServerVersion = fmt.Sprintf("%d.%d.%d", v.Major(), v.Minor(), v.Patch())
	c, err := semver.NewConstraint(MinKubernetesVersion)
	if err != nil {
		return res, err
	}
	res.Supported = c.Check(v)
	return res, nil
}
