package events

import (
	"context"
	"sync/atomic"
)

// Async hands events to a sink from its own goroutine, so that emitting never waits on the network: a
// reconciliation only queues its events. When the queue is full new events are dropped and counted.
type Async struct {
	sink    Sink
	queue   chan Event
	dropped atomic.Int64
}

// NewAsync returns an Async over sink queueing up to size events; call Run to deliver them.
func NewAsync(sink Sink, size int) *Async {
	return &Async{sink: sink, queue: make(chan Event, size)}
}

// Emit implements Sink.
func (a *Async) Emit(_ context.Context, e Event) {
	select {
	case a.queue <- e:
	default:
		a.dropped.Add(1)
	}
}

// Dropped reports how many events were dropped because the queue was full.
func (a *Async) Dropped() int64 { return a.dropped.Load() }

// Run delivers queued events until ctx ends, then delivers what is still queued with a context that is
// no longer cancelled by ctx.
func (a *Async) Run(ctx context.Context) {
	for {
		select {
		case e := <-a.queue:
			a.sink.Emit(ctx, e)
		case <-ctx.Done():
			rest := context.WithoutCancel(ctx)
			for {
				select {
				case e := <-a.queue:
					a.sink.Emit(rest, e)
				default:
					return
				}
			}
		}
	}
}
