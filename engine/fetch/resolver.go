// Package fetch turns source references into folders of files: local folders and work trees in push mode,
// fetched and cached artifacts otherwise. It is the one place commands and the agent resolve sources.
package fetch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
)

// Resolver resolves sources for builds. The zero value resolves nothing.
type Resolver struct {
	// Local maps "Kind/namespace/name" to a folder used as that source's files (--local-source).
	Local map[string]string
	// Remote fetches a source object's artifact and returns its folder; nil means sources can only be local.
	Remote func(ctx context.Context, obj runtime.Object) (string, error)
	// Lookup returns a source object the build does not declare (e.g. from the cluster); may be nil.
	Lookup func(ctx context.Context, kind, namespace, name string) (runtime.Object, error)
}

// ParseLocalSource parses "Kind/namespace/name=PATH".
func ParseLocalSource(s string) (key, dir string, err error) {
	ref, path, ok := strings.Cut(s, "=")
	parts := strings.Split(ref, "/")
	if !ok || len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" || path == "" {
		return "", "", fmt.Errorf("%q: want Kind/namespace/name=PATH, e.g. GitRepository/flux-system/apps=../apps", s)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "", err
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return "", "", fmt.Errorf("%q: %s is not a folder", s, path)
	}
	return ref, abs, nil
}

// ResolveSource implements build.SourceResolver.
func (r *Resolver) ResolveSource(ctx context.Context, kind, namespace, name string, declared map[string]runtime.Object) (string, error) {
	key := kind + "/" + namespace + "/" + name
	if dir, ok := r.Local[key]; ok {
		return dir, nil
	}
	obj, ok := declared[key]
	if !ok && r.Lookup != nil {
		var err error
		if obj, err = r.Lookup(ctx, kind, namespace, name); err != nil {
			return "", err
		}
		ok = obj != nil
	}
	if !ok {
		return "", fmt.Errorf("%s is not defined in the build or the cluster; map it to a folder with --local-source %s=PATH", key, key)
	}
	if r.Remote == nil {
		return "", fmt.Errorf("%s would have to be fetched, which this command does not do; map it with --local-source %s=PATH", key, key)
	}
	return r.Remote(ctx, obj)
}
