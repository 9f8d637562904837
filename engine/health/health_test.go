package health

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// A mapper that knows nothing makes every check fail before it reaches a server.
func TestWaitReportsUncheckedObjectsOnTimeout(t *testing.T) {
	c := &Checker{Mapper: meta.NewDefaultRESTMapper(nil), Interval: time.Millisecond}
	obj := Object{GVK: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, Namespace: "ns", Name: "web"}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Wait(ctx, []Object{obj}, time.Second)
	var he *Error
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "Deployment/ns/web status: 'Unknown': not checked yet") {
		t.Fatalf("got %v", err)
	}
}
