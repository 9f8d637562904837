package events

import (
	"context"
	"sync"
	"testing"
)

func TestAsyncDeliversInOrderAndDropsWhenFull(t *testing.T) {
	var mu sync.Mutex
	var got []string
	block := make(chan struct{})
	sink := Func(func(_ context.Context, e Event) {
		<-block
		mu.Lock()
		got = append(got, e.Reason)
		mu.Unlock()
	})
	a := NewAsync(sink, 2)
	for _, r := range []string{"a", "b", "c"} {
		a.Emit(context.Background(), Event{Reason: r})
	}
	if a.Dropped() != 1 {
		t.Fatalf("dropped = %d, want 1 (queue of 2, nothing delivering yet)", a.Dropped())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	close(block)
	cancel()
	<-done
	if len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("delivered %v, want [a b] (queued events are delivered on shutdown)", got)
	}
}
