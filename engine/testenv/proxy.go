package testenv

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// Proxy is a TCP proxy on loopback in front of the API server that injects faults: a latency added to
// every chunk each way (as a slow network would, without limiting throughput), and stalls that hold
// every byte until Resume. TLS passes through: clients authenticate to the API server as without it.
type Proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	delay  time.Duration
	resume chan struct{} // closed while not stalled
	conns  sync.WaitGroup
}

// StartProxy starts a Proxy to the API server; it stops with t.
func (c *Cluster) StartProxy(t testing.TB) *Proxy {
	t.Helper()
	u, err := url.Parse(c.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: u.Host, resume: make(chan struct{})}
	close(p.resume)
	ctx, cancel := context.WithCancel(context.Background())
	p.conns.Add(1)
	go func() {
		defer p.conns.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			go func() { defer p.conns.Done(); p.serve(ctx, conn) }()
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = ln.Close()
		p.Resume()
		p.conns.Wait()
	})
	return p
}

// Config returns c's admin configuration through p.
func (p *Proxy) Config(c *Cluster) *rest.Config {
	return p.Via(c.Config)
}

// Via returns a copy of cfg that reaches the API server through p.
func (p *Proxy) Via(cfg *rest.Config) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.Host = "https://" + p.ln.Addr().String()
	return out
}

// SetDelay sets the latency added to every chunk of data each way.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// Stall holds every byte, both ways, until Resume.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.resume:
		p.resume = make(chan struct{})
	default:
	}
}

// Resume ends a Stall.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.resume:
	default:
		close(p.resume)
	}
}

func (p *Proxy) state() (time.Duration, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.delay, p.resume
}

func (p *Proxy) serve(ctx context.Context, client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(ctx, server, client); cancel() }()
	go func() { defer wg.Done(); p.pipe(ctx, client, server); cancel() }()
	<-ctx.Done()
	_ = client.Close()
	_ = server.Close()
	wg.Wait()
}

type chunk struct {
	data []byte
	due  time.Time
}

// pipe copies from src to dst, each chunk sent its delay after it was read and never during a stall.
func (p *Proxy) pipe(ctx context.Context, dst io.Writer, src io.Reader) {
	chunks := make(chan chunk, 1024)
	go func() {
		defer close(chunks)
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				delay, _ := p.state()
				select {
				case chunks <- chunk{data: append([]byte(nil), buf[:n]...), due: time.Now().Add(delay)}:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range chunks {
		if wait := time.Until(c.due); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
		}
		_, resume := p.state()
		select {
		case <-resume:
		case <-ctx.Done():
			return
		}
		if _, err := dst.Write(c.data); err != nil {
			return
		}
	}
}
