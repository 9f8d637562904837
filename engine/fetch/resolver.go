package fetch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

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
	// Source, when set, is used instead of Remote and says where the files came from (push mode:
	// Fetchers.Source). Its results are kept for the resolver's life, one command run.
	Source func(ctx context.Context, obj runtime.Object, declared map[string]runtime.Object) (Use, error)
	// Folder, when set, may replace the Local folder u of the declared source obj (push mode:
	// Fetchers.Folder adds spec.include to the work tree).
	Folder func(ctx context.Context, u Use, obj runtime.Object, declared map[string]runtime.Object) (Use, error)
	// LocalFrom says what a Local folder is, by key, for Uses (default "--local-source <folder>").
	LocalFrom map[string]string

	mu   sync.Mutex
	uses map[string]Use
}

// Uses calls fn for every source resolved so far, by key ("Kind/namespace/name"), with what stood in
// for it (Use.From) and its folder.
func (r *Resolver) Uses(fn func(id, from, dir string)) {
	r.mu.Lock()
	keys := make([]string, 0, len(r.uses))
	for k := range r.uses {
		keys = append(keys, k)
	}
	uses := make(map[string]Use, len(r.uses))
	for k, u := range r.uses {
		uses[k] = u
	}
	r.mu.Unlock()
	sort.Strings(keys)
	for _, k := range keys {
		fn(k, uses[k].From, uses[k].Dir)
	}
}

func (r *Resolver) record(key string, u Use) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.uses == nil {
		r.uses = map[string]Use{}
	}
	r.uses[key] = u
}

func (r *Resolver) recorded(key string) (Use, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u, ok := r.uses[key]
	return u, ok
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
	u, err := r.Use(ctx, kind, namespace, name, declared)
	return u.Dir, err
}

// Use resolves a source as ResolveSource does and says where its files came from: a Local folder,
// else the object the build declares (or Lookup finds) fetched by Source or Remote.
func (r *Resolver) Use(ctx context.Context, kind, namespace, name string, declared map[string]runtime.Object) (Use, error) {
	key := kind + "/" + namespace + "/" + name
	if r.Source != nil {
		if u, ok := r.recorded(key); ok {
			return u, nil
		}
	}
	if dir, ok := r.Local[key]; ok {
		from, ok := r.LocalFrom[key]
		if !ok {
			from = "--local-source " + dir
		}
		u := Use{Dir: dir, From: from}
		if obj, ok := declared[key]; ok && r.Folder != nil {
			ctx, err := enter(ctx, key)
			if err != nil {
				return Use{}, err
			}
			if u, err = r.Folder(ctx, u, obj, declared); err != nil {
				return Use{}, err
			}
		}
		r.record(key, u)
		return u, nil
	}
	obj, ok := declared[key]
	if !ok && r.Lookup != nil {
		var err error
		if obj, err = r.Lookup(ctx, kind, namespace, name); err != nil {
			return Use{}, err
		}
		ok = obj != nil
	}
	if !ok {
		return Use{}, fmt.Errorf("%s is not defined in the build or the cluster; map it to a folder with --local-source %s=PATH", key, key)
	}
	if r.Source != nil {
		ctx, err := enter(ctx, key)
		if err != nil {
			return Use{}, err
		}
		u, err := r.Source(ctx, obj, declared)
		if err != nil {
			return Use{}, err
		}
		r.record(key, u)
		return u, nil
	}
	if r.Remote == nil {
		return Use{}, fmt.Errorf("%s would have to be fetched, which this command does not do; map it with --local-source %s=PATH", key, key)
	}
	dir, err := r.Remote(ctx, obj)
	if err != nil {
		return Use{}, err
	}
	return Use{Dir: dir, From: "fetched"}, nil
}
