package diff

import (
	"context"
	"fmt"

	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/driver"
)

// applyTree applies the tree o describes through the engine's driver, as `converge apply` does
// (without its events and notifications); it fails when a node failed, or a Kustomization was skipped.
func applyTree(ctx context.Context, o driver.Options) ([]*driver.Result, error) {
	drv, err := driver.Prepare(ctx, &o, nil)
	if err != nil {
		return nil, err
	}
	results, err := drv.Run(ctx, nil)
	if err != nil {
		return nil, err
	}
	_ = drv.MarkLocalSources(ctx) // as apply, which only warns
	for _, r := range results {
		if err := r.Err(); err != nil {
			return results, err
		}
		if r.Skipped != nil && r.Node.Kind != build.KindHelmRelease {
			return results, fmt.Errorf("%s %s skipped after %s", r.Node.Kind, r.Node.Name, r.Skipped.Name)
		}
	}
	return results, nil
}
