// Package check implements `converge check`.
package check

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/discovery"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/install"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/preflight"
)

// Options are the inputs of `converge check`.
type Options struct {
	IO        *cmdutil.IOStreams
	Discovery func() (discovery.DiscoveryInterface, error)
	Host      func() string
	Clients   func() (*kube.Clients, error)
	Namespace string
	Pre       bool
	Output    string
	// Components, ComponentsExtra and PollInterval are Flux's flags, accepted for its scripts: they
	// select and pace Flux's controllers, which converge's one agent replaces (a warning says so).
	Components      []string
	ComponentsExtra []string
	PollInterval    time.Duration
	ignored         []string
}

// NewCmdCheck returns the check command.
func NewCmdCheck(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the prerequisites, the installed CRDs and the agent's health",
		Long: `Check verifies that the cluster is reachable and recent enough, that the Flux CRDs installed match the
versions this binary serves (every served version present, the same storage version), and that the agent
Deployment in the namespace (-n, default flux-system) has a ready replica. With shards (converge install
--shards), each shard's agent Deployment must have a ready replica, its Lease a holder and its artifact
Service a ready endpoint. It fails when any check fails.`,
		Example: `  # Before installing: is the cluster reachable and recent enough?
  converge check --pre

  # After converge install: CRDs and agent
  converge check`,
		Args: cobra.NoArgs,
		RunE: cmdutil.RunE(f, opts, true),
	}
	cmd.Flags().BoolVar(&opts.Pre, "pre", false, "only check the prerequisites (cluster reachable, Kubernetes version)")
	cmd.Flags().StringSliceVar(&opts.Components, "components", []string{"source-controller", "kustomize-controller", "helm-controller", "notification-controller"},
		"Flux's controllers to check (accepted for Flux's scripts: converge checks its one agent and every CRD)")
	cmd.Flags().StringSliceVar(&opts.ComponentsExtra, "components-extra", nil, "Flux's extra controllers to check (accepted, as --components)")
	cmd.Flags().DurationVar(&opts.PollInterval, "poll-interval", 5*time.Second, "Flux's interval between health polls (accepted: converge checks once)")
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.OutputTable, cmdutil.OutputYAML, cmdutil.OutputJSON)
	return cmd
}

// Complete fills the streams, clients and namespace, and notes the Flux flags that change nothing.
func (o *Options) Complete(f *cmdutil.Factory, cmd *cobra.Command, _ []string) error {
	for _, name := range []string{"components", "components-extra", "poll-interval"} {
		if fl := cmd.Flags().Lookup(name); fl != nil && fl.Changed {
			o.ignored = append(o.ignored, "--"+name)
		}
	}
	if o.IO == nil {
		o.IO = f.IO
	}
	if o.Discovery == nil {
		o.Discovery = f.Discovery
	}
	if o.Host == nil {
		o.Host = f.Host
	}
	if o.Clients == nil {
		o.Clients = f.KubeClients
	}
	o.Namespace = f.Namespace()
	return nil
}

// Validate checks the output format.
func (o *Options) Validate() error {
	return cmdutil.ValidateOutput(o.Output, cmdutil.OutputTable, cmdutil.OutputYAML, cmdutil.OutputJSON)
}

// Run performs the checks and reports them.
func (o *Options) Run(ctx context.Context) error {
	if len(o.ignored) > 0 {
		cmdutil.PrintWarnings(o.IO.ErrOut, o.IO.ErrStyles(), []string{strings.Join(o.ignored, ", ") +
			" select and pace Flux's separate controllers: converge runs one agent, so every CRD and the agent are checked, once"})
	}
	st := o.IO.ErrStyles()
	dc, err := o.Discovery()
	if err != nil {
		return err
	}
	if o.Output == cmdutil.OutputTable {
		fmt.Fprintln(o.IO.ErrOut, st.ActionLine("checking prerequisites"))
	}
	res, err := preflight.Check(ctx, dc)
	if err != nil {
		return fmt.Errorf("%w (server %s)", err, o.Host())
	}
	report := Report{Prerequisites: res}
	table := o.Output == cmdutil.OutputTable
	if table {
		if res.Supported {
			fmt.Fprintln(o.IO.ErrOut, st.SuccessLine(fmt.Sprintf("Kubernetes %s %s", res.ServerVersion, res.Constraint)))
		} else {
			fmt.Fprintln(o.IO.ErrOut, st.FailureLine(fmt.Sprintf("Kubernetes %s does not match %s", res.ServerVersion, res.Constraint)))
		}
	}
	failed := !res.Supported
	if !o.Pre && res.Supported {
		clients, err := o.Clients()
		if err != nil {
			return err
		}
		if table {
			fmt.Fprintln(o.IO.ErrOut, st.ActionLine("checking CRDs"))
		}
		if report.CRDs, err = preflight.CRDs(ctx, clients.Dynamic); err != nil {
			return err
		}
		for _, c := range report.CRDs {
			failed = failed || !c.OK
			if !table {
				continue
			}
			switch {
			case c.OK:
				fmt.Fprintln(o.IO.ErrOut, st.SuccessLine(fmt.Sprintf("%s %s", c.Name, strings.Join(c.Versions, ", "))))
			case !c.Installed:
				fmt.Fprintln(o.IO.ErrOut, st.FailureLine(fmt.Sprintf("%s not installed (converge install)", c.Name)))
			case len(c.Missing) > 0:
				fmt.Fprintln(o.IO.ErrOut, st.FailureLine(fmt.Sprintf("%s lacks versions %s (converge install upgrades it)", c.Name, strings.Join(c.Missing, ", "))))
			default:
				fmt.Fprintln(o.IO.ErrOut, st.FailureLine(fmt.Sprintf("%s stores %s, converge stores another version (converge install upgrades it)", c.Name, c.Storage)))
			}
		}
		if table {
			fmt.Fprintln(o.IO.ErrOut, st.ActionLine("checking the agent"))
		}
		agent, err := preflight.Agent(ctx, clients.Core, o.Namespace, install.AgentName)
		if err != nil {
			return err
		}
		report.Agent = &agent
		failed = failed || !agent.OK
		if table {
			line := fmt.Sprintf("%s/%s: %s", agent.Namespace, agent.Name, agent.Message)
			if agent.Image != "" {
				line += " (" + agent.Image + ")"
			}
			if agent.OK {
				fmt.Fprintln(o.IO.ErrOut, st.SuccessLine(line))
			} else {
				fmt.Fprintln(o.IO.ErrOut, st.FailureLine(line))
			}
		}
		if report.Shards, err = preflight.Shards(ctx, clients.Core, o.Namespace); err != nil {
			return err
		}
		if table && len(report.Shards) > 0 {
			fmt.Fprintln(o.IO.ErrOut, st.ActionLine("checking the shards"))
		}
		for _, sc := range report.Shards {
			failed = failed || !sc.OK
			if !table {
				continue
			}
			if sc.OK {
				fmt.Fprintln(o.IO.ErrOut, st.SuccessLine(fmt.Sprintf("shard %s: %s/%s %s, Lease held by %s, artifact Service %d ready endpoint(s)",
					sc.Shard, sc.Agent.Namespace, sc.Agent.Name, sc.Agent.Message, sc.LeaseHolder, sc.ServiceEndpoints)))
				continue
			}
			for _, p := range sc.Problems {
				fmt.Fprintln(o.IO.ErrOut, st.FailureLine(fmt.Sprintf("shard %s: %s", sc.Shard, p)))
			}
		}
	}
	if !table {
		if err := cmdutil.WriteData(o.IO.Out, o.Output, report); err != nil {
			return err
		}
	}
	if !res.Supported {
		return fmt.Errorf("Kubernetes %s is older than converge supports (%s)", res.ServerVersion, res.Constraint)
	}
	if failed {
		if table {
			fmt.Fprintln(o.IO.ErrOut, st.FailureLine("checks failed"))
		}
		return &cmdutil.SilentError{Code: cmdutil.ExitError}
	}
	if table {
		if o.Pre {
			fmt.Fprintln(o.IO.ErrOut, st.SuccessLine("prerequisites checks passed"))
		} else {
			fmt.Fprintln(o.IO.ErrOut, st.SuccessLine("all checks passed"))
		}
	}
	return nil
}

// Report is what check found, for -o json|yaml.
type Report struct {
	Prerequisites preflight.Result      `json:"prerequisites"`
	CRDs          []preflight.CRDCheck  `json:"crds,omitempty"`
	Agent         *preflight.AgentCheck `json:"agent,omitempty"`
	// Shards are the agents of `converge install --shards`, one per shard.
	Shards []preflight.ShardCheck `json:"shards,omitempty"`
}
