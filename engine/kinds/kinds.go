// Package kinds is the one registry of the Flux kinds converge knows: their API resource and version, the
// Flux component that serves them, where their revision is, how the CLI names them, which commands and
// which parts of the agent handle them. Every other table of kinds (the CLI's kind subcommands, the
// agent's watches and artifact store, install's CRD sets, the receiver's default API versions, inspect's
// kinds) is derived from it: adding a kind is one entry in registry.
package kinds

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// AgentRole says what the agent does with a kind's objects.
type AgentRole int

const (
	// NotWatched kinds are not cached by the agent.
	NotWatched AgentRole = iota
	// Reconciled kinds are watched and reconciled by the agent.
	Reconciled
	// LookedUp kinds are watched for lookups only (a HelmRelease's chartRef, an Alert's providerRef) and
	// reconciled elsewhere; a new artifact revision wakes the objects built from them.
	LookedUp
)

// Kind is one Flux kind.
type Kind struct {
	// Kind is the API kind, e.g. "GitRepository".
	Kind string
	// Resource is the API resource at the version converge serves (the CRD's storage version).
	Resource schema.GroupVersionResource
	// RevisionPath is where the kind keeps the revision it last applied or stored (nil: none).
	RevisionPath []string

	// Key names the kind in code (ByKey): "kustomizations", "git".
	Key string
	// Component is the Flux controller that serves the kind; its CRD is installed with the component.
	Component string

	// CLIGroup is the grouping subcommand the CLI names the kind under: "", "source" or "image".
	CLIGroup string
	// CLIName and CLIAliases name the kind in the commands that act on objects (reconcile, suspend,
	// resume, export, tree): `suspend kustomization`, `reconcile source git`.
	CLIName    string
	CLIAliases []string
	// GetName and GetAliases name the kind under `get`: `get kustomizations`, `get sources git`.
	GetName    string
	GetAliases []string
	// InGetAll kinds are listed by `get all`; InGetGroupAll kinds by `get <group> all`.
	InGetAll, InGetGroupAll bool

	// Reconcilable kinds take `reconcile` requests (reconcile.fluxcd.io/requestedAt).
	Reconcilable bool
	// Suspendable kinds have spec.suspend (`suspend`, `resume`).
	Suspendable bool
	// HandlesRequests kinds record handled requests in status.lastHandledReconcileAt, so a resume can
	// wait for one (Alerts and Providers have no status).
	HandlesRequests bool
	// Exportable kinds are written by users (`export`).
	Exportable bool
	// Inventory kinds record the objects they applied (`tree`).
	Inventory bool

	// Agent is what the agent does with the kind.
	Agent AgentRole
	// Artifact kinds have a status.artifact the agent stores and serves under /artifacts/<kind in lower case>/.
	Artifact bool
	// Stored kinds keep data in the agent's store (artifacts; an ImageRepository's scanned tags).
	Stored bool
	// ReceiverTarget kinds may be a Receiver's resources (and an Alert's event sources) without apiVersion.
	ReceiverTarget bool
}

// APIVersion returns "group/version".
func (k Kind) APIVersion() string { return k.Resource.GroupVersion().String() }

// GroupVersionKind returns the kind at the version converge serves.
func (k Kind) GroupVersionKind() schema.GroupVersionKind {
	return k.Resource.GroupVersion().WithKind(k.Kind)
}

// CRDName is the name of the kind's CustomResourceDefinition ("gitrepositories.source.toolkit.fluxcd.io").
func (k Kind) CRDName() string { return k.Resource.Resource + "." + k.Resource.Group }

// Plural is the kind's plural as the CLI prints it ("GitRepositories").
func (k Kind) Plural() string {
	if s, ok := strings.CutSuffix(k.Kind, "y"); ok {
		return s + "ies"
	}
	return k.Kind + "s"
}

// Component is a Flux controller whose API converge serves.
type Component struct {
	Name string
	// Default components' CRDs are installed unless left out; the others are added with --components-extra.
	Default bool
}

// Components are the Flux components, defaults first, in the order install names them.
func Components() []Component {
	return []Component{
		{Name: "source-controller", Default: true},
		{Name: "kustomize-controller", Default: true},
		{Name: "helm-controller", Default: true},
		{Name: "notification-controller", Default: true},
		{Name: "image-reflector-controller"},
		{Name: "image-automation-controller"},
		{Name: "source-watcher"},
	}
}

func gvr(g, v, r string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: g, Version: v, Resource: r}
}

var artifactRevision = []string{"status", "artifact", "revision"}

// registry is every Flux kind, in the order `get all` lists them.
func registry() []Kind {
	return []Kind{
		{Kind: "GitRepository", Resource: gvr("source.toolkit.fluxcd.io", "v1", "gitrepositories"), RevisionPath: artifactRevision,
			Key: "git", Component: "source-controller", CLIGroup: "source", CLIName: "git", GetName: "git",
			InGetAll: true, InGetGroupAll: true, Reconcilable: true, Suspendable: true, HandlesRequests: true, Exportable: true,
			Agent: Reconciled, Artifact: true, Stored: true, ReceiverTarget: true},
		{Kind: "OCIRepository", Resource: gvr("source.toolkit.fluxcd.io", "v1", "ocirepositories"), RevisionPath: artifactRevision,
			Key: "oci", Component: "source-controller", CLIGroup: "source", CLIName: "oci", GetName: "oci",
			InGetAll: true, InGetGroupAll: true, Reconcilable: true, Suspendable: true, HandlesRequests: true, Exportable: true,
			Agent: Reconciled, Artifact: true, Stored: true, ReceiverTarget: true},
		{Kind: "HelmRepository", Resource: gvr("source.toolkit.fluxcd.io", "v1", "helmrepositories"), RevisionPath: artifactRevision,
			Key: "helm", Component: "source-controller", CLIGroup: "source", CLIName: "helm", GetName: "helm",
			InGetAll: true, InGetGroupAll: true, Reconcilable: true, Suspendable: true, HandlesRequests: true, Exportable: true,
			Agent: Reconciled, Artifact: true, Stored: true, ReceiverTarget: true},
		{Kind: "HelmChart", Resource: gvr("source.toolkit.fluxcd.io", "v1", "helmcharts"), RevisionPath: artifactRevision,
			Key: "chart", Component: "source-controller", CLIGroup: "source", CLIName: "chart", GetName: "chart",
			InGetAll: true, InGetGroupAll: true, Reconcilable: true, Suspendable: true, HandlesRequests: true, Exportable: true,
			Agent: Reconciled, Artifact: true, Stored: true, ReceiverTarget: true},
		{Kind: "Bucket", Resource: gvr("source.toolkit.fluxcd.io", "v1", "buckets"), RevisionPath: artifactRevision,
			Key: "bucket", Component: "source-controller", CLIGroup: "source", CLIName: "bucket", GetName: "bucket",
			InGetAll: true, InGetGroupAll: true, Reconcilable: true, Suspendable: true, HandlesRequests: true, Exportable: true,
			Agent: Reconciled, Artifact: true, Stored: true, ReceiverTarget: true},
		{Kind: "ExternalArtifact", Resource: gvr("source.toolkit.fluxcd.io", "v1", "externalartifacts"), RevisionPath: artifactRevision,
			Key: "external", Component: "source-controller", CLIGroup: "source", CLIName: "external", GetName: "external", GetAliases: []string{"externalartifacts"},
			InGetAll: true, InGetGroupAll: true, Exportable: true, Agent: LookedUp, Artifact: true, Stored: true, ReceiverTarget: true},
		{Kind: "Kustomization", Resource: gvr("kustomize.toolkit.fluxcd.io", "v1", "kustomizations"), RevisionPath: []string{"status", "lastAppliedRevision"},
			Key: "kustomizations", Component: "kustomize-controller",
			CLIName: "kustomization", CLIAliases: []string{"ks", "kustomizations"},
			GetName: "kustomizations", GetAliases: []string{"kustomization", "ks"},
			InGetAll: true, Reconcilable: true, Suspendable: true, HandlesRequests: true, Exportable: true, Inventory: true,
			Agent: Reconciled, ReceiverTarget: true},
		{Kind: "HelmRelease", Resource: gvr("helm.toolkit.fluxcd.io", "v2", "helmreleases"), RevisionPath: []string{"status", "lastAttemptedRevision"},
			Key: "helmreleases", Component: "helm-controller",
			CLIName: "helmrelease", CLIAliases: []string{"hr", "helmreleases"},
			GetName: "helmreleases", GetAliases: []string{"helmrelease", "hr"},
			InGetAll: true, Reconcilable: true, Suspendable: true, HandlesRequests: true, Exportable: true, Inventory: true,
			Agent: Reconciled, ReceiverTarget: true},
		{Kind: "ArtifactGenerator", Resource: gvr("source.extensions.fluxcd.io", "v1beta1", "artifactgenerators"),
			Key: "artifactgenerators", Component: "source-watcher",
			CLIName: "artifactgenerator", CLIAliases: []string{"artifactgenerators"},
			GetName: "artifactgenerators", GetAliases: []string{"artifactgenerator", "generators"},
			HandlesRequests: true, Exportable: true, Agent: Reconciled, ReceiverTarget: true},
		{Kind: "Alert", Resource: gvr("notification.toolkit.fluxcd.io", "v1beta3", "alerts"),
			Key: "alerts", Component: "notification-controller",
			CLIName: "alert", CLIAliases: []string{"alerts"},
			GetName: "alerts", GetAliases: []string{"alert"},
			InGetAll: true, Suspendable: true, Exportable: true, Agent: LookedUp},
		{Kind: "Provider", Resource: gvr("notification.toolkit.fluxcd.io", "v1beta3", "providers"),
			Key: "providers", Component: "notification-controller",
			CLIName: "alert-provider", CLIAliases: []string{"provider", "providers"},
			GetName: "alert-providers", GetAliases: []string{"alert-provider", "providers"},
			InGetAll: true, Suspendable: true, Exportable: true, Agent: LookedUp},
		{Kind: "Receiver", Resource: gvr("notification.toolkit.fluxcd.io", "v1", "receivers"),
			Key: "receivers", Component: "notification-controller",
			CLIName: "receiver", CLIAliases: []string{"receivers"},
			GetName: "receivers", GetAliases: []string{"receiver"},
			InGetAll: true, Reconcilable: true, Suspendable: true, HandlesRequests: true, Exportable: true, Agent: Reconciled},
		{Kind: "ImageRepository", Resource: gvr("image.toolkit.fluxcd.io", "v1", "imagerepositories"),
			Key: "imagerepositories", Component: "image-reflector-controller",
			CLIGroup: "image", CLIName: "repository", GetName: "repository", GetAliases: []string{"repositories"}, InGetAll: true, InGetGroupAll: true,
			Reconcilable: true, Suspendable: true, HandlesRequests: true, Exportable: true,
			Agent: Reconciled, Stored: true, ReceiverTarget: true},
		{Kind: "ImagePolicy", Resource: gvr("image.toolkit.fluxcd.io", "v1", "imagepolicies"), RevisionPath: []string{"status", "latestRef", "tag"},
			Key: "imagepolicies", Component: "image-reflector-controller",
			CLIGroup: "image", CLIName: "policy", GetName: "policy", GetAliases: []string{"policies"}, InGetAll: true, InGetGroupAll: true,
			// A request re-evaluates the policy against the stored tags (Flux's `reconcile image policy`).
			Reconcilable: true, Suspendable: true, HandlesRequests: true, Exportable: true,
			Agent: Reconciled, ReceiverTarget: true},
		{Kind: "ImageUpdateAutomation", Resource: gvr("image.toolkit.fluxcd.io", "v1", "imageupdateautomations"), RevisionPath: []string{"status", "lastPushCommit"},
			Key: "imageupdateautomations", Component: "image-automation-controller",
			CLIGroup: "image", CLIName: "update", GetName: "update", GetAliases: []string{"updates"}, InGetAll: true, InGetGroupAll: true,
			Reconcilable: true, Suspendable: true, HandlesRequests: true, Exportable: true,
			Agent: Reconciled, ReceiverTarget: true},
	}
}

// All returns every Flux kind, in the order `get all` lists them.
func All() []Kind { return registry() }

// Select returns the kinds keep holds for, in registry order.
func Select(keep func(Kind) bool) []Kind {
	return slices.DeleteFunc(registry(), func(k Kind) bool { return !keep(k) })
}

// Named returns the kind whose API kind is kind ("GitRepository"), case-insensitively.
func Named(kind string) (Kind, bool) {
	for _, k := range registry() {
		if strings.EqualFold(k.Kind, kind) {
			return k, true
		}
	}
	return Kind{}, false
}

// ByKey returns the kind whose Key is key ("git", "kustomizations").
func ByKey(key string) (Kind, bool) {
	for _, k := range registry() {
		if k.Key == key {
			return k, true
		}
	}
	return Kind{}, false
}

// MustByKey is ByKey for keys written in code (tables, tests): it panics on a key the registry lacks.
func MustByKey(key string) Kind {
	k, ok := ByKey(key)
	if !ok {
		panic("engine/kinds: no kind with key " + key)
	}
	return k
}

// CRDNames returns the names of the CRDs of component's kinds, sorted.
func CRDNames(component string) []string {
	var out []string
	for _, k := range registry() {
		if k.Component == component {
			out = append(out, k.CRDName())
		}
	}
	slices.Sort(out)
	return out
}
