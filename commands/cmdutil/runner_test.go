package cmdutil

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

type recordingRunner struct {
	calls       []string
	failAt      string
	hadDeadline bool
}

func (r *recordingRunner) step(name string) error {
	r.calls = append(r.calls, name)
	if r.failAt == name {
		return errors.New(name + " failed")
	}
	return nil
}

func (r *recordingRunner) Complete(*Factory, *cobra.Command, []string) error {
	return r.step("complete")
}
func (r *recordingRunner) Validate() error { return r.step("validate") }
func (r *recordingRunner) Run(ctx context.Context) error {
	_, r.hadDeadline = ctx.Deadline()
	return r.step("run")
}

func TestRunEOrderAndStops(t *testing.T) {
	for _, tc := range []struct {
		failAt      string
		withTimeout bool
		want        string
	}{
		{"", true, "complete validate run"},
		{"", false, "complete validate run"},
		{"complete", true, "complete"},
		{"validate", true, "complete validate"},
		{"run", true, "complete validate run"},
	} {
		r := &recordingRunner{failAt: tc.failAt}
		f := &Factory{Timeout: time.Minute}
		cmd := &cobra.Command{}
		cmd.SetContext(context.Background())
		err := RunE(f, r, tc.withTimeout)(cmd, nil)
		if (err != nil) != (tc.failAt != "") {
			t.Errorf("failAt %q: err = %v", tc.failAt, err)
		}
		got := ""
		for i, c := range r.calls {
			if i > 0 {
				got += " "
			}
			got += c
		}
		if got != tc.want {
			t.Errorf("failAt %q: calls %q, want %q", tc.failAt, got, tc.want)
		}
		if tc.failAt == "" && r.hadDeadline != tc.withTimeout {
			t.Errorf("withTimeout %v: deadline %v", tc.withTimeout, r.hadDeadline)
		}
	}
}

type streamingRunner struct {
	recordingRunner
	streaming bool
}

func (r *streamingRunner) Streaming() bool { return r.streaming }

func TestRunEStreamingHasNoTimeout(t *testing.T) {
	for _, streaming := range []bool{false, true} {
		r := &streamingRunner{streaming: streaming}
		cmd := &cobra.Command{}
		cmd.SetContext(context.Background())
		if err := RunE(&Factory{Timeout: time.Minute}, r, true)(cmd, nil); err != nil {
			t.Fatal(err)
		}
		if r.hadDeadline == streaming {
			t.Errorf("streaming %v: deadline %v", streaming, r.hadDeadline)
		}
	}
}
