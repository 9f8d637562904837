package health

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Object names an object to check.
type Object struct {
	GVK       schema.GroupVersionKind
	Namespace string
	Name      string
}

func (o Object) String() string {
	if o.Namespace == "" {
		return o.GVK.Kind + "/" + o.Name
	}
	return o.GVK.Kind + "/" + o.Namespace + "/" + o.Name
}

// State is the health of one object.
type State struct {
	Object  Object        `json:"-"`
	Subject string        `json:"subject"`
	Status  status.Status `json:"status"`
	Message string        `json:"message,omitempty"`

	// generation is the object's metadata.generation as read (-1: not found).
	generation int64
}

// Checker reads objects and computes their kstatus.
type Checker struct {
	Client dynamic.Interface
	Mapper meta.RESTMapper
	// Interval between polls while waiting (default 500ms).
	Interval time.Duration
	// After waits; injectable for tests. Defaults to time.After.
	After func(time.Duration) <-chan time.Time
	// Cache, when set, serves Wait's reads after its first (which reads the API server) from watches.
	Cache *Cache

	// exprs are CEL health checks per kind (see WithExpressions).
	exprs map[schema.GroupKind]*evaluator
}

// Check returns the current state of every object.
func (c *Checker) Check(ctx context.Context, objs []Object) ([]State, error) {
	return c.check(ctx, objs, nil)
}

// check is Check; with minGen (Wait's reads after the first), an object is read from the Cache when its
// cached copy is at least at the generation the first read saw (never older than what was applied).
func (c *Checker) check(ctx context.Context, objs []Object, minGen []int64) ([]State, error) {
	out := make([]State, 0, len(objs))
	for i, o := range objs {
		st := State{Object: o, Subject: o.String()}
		var u *unstructured.Unstructured
		var err error
		cached := false
		if minGen != nil && minGen[i] >= 0 {
			u, cached, err = c.cached(o, minGen[i])
		}
		if !cached {
			u, err = c.get(ctx, o)
		}
		switch {
		case apierrors.IsNotFound(err):
			st.Status, st.Message, st.generation = status.NotFoundStatus, "not found", -1
		case err != nil:
			return nil, fmt.Errorf("health check of %s: %w", o, err)
		default:
			st.generation = u.GetGeneration()
			if ev := c.evaluatorFor(o.GVK.GroupKind()); ev != nil {
				st.Status, st.Message = ev.evaluate(ctx, u)
				break
			}
			res, err := status.Compute(u)
			if err != nil {
				st.Status, st.Message = status.UnknownStatus, err.Error()
			} else {
				st.Status, st.Message = res.Status, res.Message
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// cached reads o from the Cache; served is false when the cache cannot answer (or holds an older
// generation than minGen).
func (c *Checker) cached(o Object, minGen int64) (u *unstructured.Unstructured, served bool, err error) {
	m, err := c.Mapper.RESTMapping(o.GVK.GroupKind(), o.GVK.Version)
	if err != nil {
		return nil, false, nil
	}
	ns := o.Namespace
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		ns = ""
	}
	u, served = c.Cache.get(m.Resource, ns, o.Name)
	switch {
	case !served:
		return nil, false, nil
	case u == nil:
		return nil, true, apierrors.NewNotFound(m.Resource.GroupResource(), o.Name)
	case u.GetGeneration() < minGen:
		return nil, false, nil
	}
	return u, true, nil
}

func (c *Checker) get(ctx context.Context, o Object) (*unstructured.Unstructured, error) {
	m, err := c.Mapper.RESTMapping(o.GVK.GroupKind(), o.GVK.Version)
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.Client.Resource(m.Resource).Namespace(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
	}
	return c.Client.Resource(m.Resource).Get(ctx, o.Name, metav1.GetOptions{})
}

// Error lists the objects that did not become ready.
type Error struct {
	States []State
	Cause  error
}

func (e *Error) Error() string {
	var parts []string
	for _, s := range e.States {
		msg := s.Subject + " status: '" + string(s.Status) + "'"
		if s.Message != "" {
			msg += ": " + s.Message
		}
		parts = append(parts, msg)
	}
	sort.Strings(parts)
	prefix := "health check failed"
	if errors.Is(e.Cause, context.DeadlineExceeded) {
		prefix = "timeout waiting for"
	}
	return prefix + ": [" + strings.Join(parts, ", ") + "]"
}

func (e *Error) Unwrap() error { return e.Cause }

// Wait polls until every object is Current, one has Failed, or timeout passes.
func (c *Checker) Wait(ctx context.Context, objs []Object, timeout time.Duration) ([]State, error) {
	interval := c.Interval
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	after := c.After
	if after == nil {
		after = time.After
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Until a check completes, every object counts as not checked.
	last := make([]State, len(objs))
	for i, o := range objs {
		last[i] = State{Object: o, Subject: o.String(), Status: status.UnknownStatus, Message: "not checked yet"}
	}
	// With a Cache, the first read is the API server's (what was just applied), the next ones the cache's
	// at that generation or later (-1: not found at first, read from the server until it is).
	var minGen []int64
	for {
		states, err := c.check(ctx, objs, minGen)
		if err == nil && c.Cache != nil && minGen == nil {
			minGen = make([]int64, len(states))
			for i, s := range states {
				minGen[i] = s.generation
			}
		}
		if err != nil && ctx.Err() == nil {
			return nil, err
		}
		if err == nil {
			last = states
		}
		var notReady, failed []State
		for _, s := range last {
			switch s.Status {
			case status.CurrentStatus:
			case status.FailedStatus:
				failed = append(failed, s)
				notReady = append(notReady, s)
			default:
				notReady = append(notReady, s)
			}
		}
		if err == nil && len(notReady) == 0 {
			return last, nil
		}
		if len(failed) > 0 {
			return last, &Error{States: failed}
		}
		select {
		case <-ctx.Done():
			return last, &Error{States: notReady, Cause: ctx.Err()}
		case <-after(interval):
		}
	}
}
