package kinds_test

import (
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/converge-gitops/converge/crds"
	"github.com/converge-gitops/converge/engine/image"
	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/install"
	"github.com/converge-gitops/converge/engine/kinds"
	"github.com/converge-gitops/converge/engine/notify"
	"github.com/converge-gitops/converge/engine/receiver"
	"github.com/converge-gitops/converge/engine/reconcile"
)

func crdsByName(t *testing.T) map[string]*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	list, err := crds.CustomResourceDefinitions()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, c := range list {
		out[c.Name] = c
	}
	return out
}

// storageSchema returns the OpenAPI schema of the CRD's storage version.
func storageSchema(crd *apiextensionsv1.CustomResourceDefinition) (string, *apiextensionsv1.JSONSchemaProps) {
	for _, v := range crd.Spec.Versions {
		if v.Storage && v.Schema != nil {
			return v.Name, v.Schema.OpenAPIV3Schema
		}
	}
	return "", nil
}

// hasPath reports whether the schema declares the field at path.
func hasPath(s *apiextensionsv1.JSONSchemaProps, path ...string) bool {
	for _, p := range path {
		if s == nil {
			return false
		}
		next, ok := s.Properties[p]
		if !ok {
			return false
		}
		s = &next
	}
	return s != nil
}

// TestRegistryMatchesCRDs checks every entry against its CRD in crds/: the CRD exists, names the same kind
// and plural, is namespaced, stores the version the registry serves (registered in the scheme), and
// declares the fields the entry's flags rely on.
func TestRegistryMatchesCRDs(t *testing.T) {
	byName := crdsByName(t)
	scheme := crds.NewScheme()
	for _, k := range kinds.All() {
		crd, ok := byName[k.CRDName()]
		if !ok {
			t.Errorf("%s: no CRD %s in crds/bases", k.Kind, k.CRDName())
			continue
		}
		if crd.Spec.Names.Kind != k.Kind || crd.Spec.Names.Plural != k.Resource.Resource || crd.Spec.Group != k.Resource.Group {
			t.Errorf("%s: CRD %s names kind %s, plural %s, group %s", k.Kind, crd.Name, crd.Spec.Names.Kind, crd.Spec.Names.Plural, crd.Spec.Group)
		}
		if crd.Spec.Scope != apiextensionsv1.NamespaceScoped {
			t.Errorf("%s: CRD scope %s, the registry assumes Namespaced", k.Kind, crd.Spec.Scope)
		}
		version, s := storageSchema(crd)
		if version != k.Resource.Version {
			t.Errorf("%s: registry serves %s, the CRD stores %s", k.Kind, k.Resource.Version, version)
		}
		if !scheme.Recognizes(k.GroupVersionKind()) {
			t.Errorf("%s: %s is not registered by crds.AddToScheme", k.Kind, k.GroupVersionKind())
		}
		if k.RevisionPath != nil && !hasPath(s, k.RevisionPath...) {
			t.Errorf("%s: revision path %s not in the CRD", k.Kind, strings.Join(k.RevisionPath, "."))
		}
		for _, c := range []struct {
			flag bool
			path []string
			name string
		}{
			{k.Suspendable, []string{"spec", "suspend"}, "Suspendable"},
			{k.HandlesRequests, []string{"status", "lastHandledReconcileAt"}, "HandlesRequests"},
			{k.Artifact, []string{"status", "artifact"}, "Artifact"},
		} {
			if c.flag != hasPath(s, c.path...) {
				t.Errorf("%s: %s is %v, the CRD declares %s: %v", k.Kind, c.name, c.flag, strings.Join(c.path, "."), !c.flag)
			}
		}
		if k.Inventory && !hasPath(s, "status", "inventory") {
			t.Errorf("%s: Inventory, but the CRD has no status.inventory", k.Kind)
		}
	}
	// Every CRD converge ships has an entry.
	for name := range byName {
		if !slices.ContainsFunc(kinds.All(), func(k kinds.Kind) bool { return k.CRDName() == name }) {
			t.Errorf("CRD %s has no entry in the kinds registry", name)
		}
	}
}

// TestRegistryConsistent checks what the flags of an entry imply for one another and that names are unique.
func TestRegistryConsistent(t *testing.T) {
	components := map[string]bool{}
	for _, c := range kinds.Components() {
		components[c.Name] = true
	}
	keys, cli, get, kindNames := map[string]bool{}, map[string]string{}, map[string]string{}, map[string]bool{}
	used := map[string]bool{}
	for _, k := range kinds.All() {
		used[k.Component] = true
		if !components[k.Component] {
			t.Errorf("%s: component %q is not in Components", k.Kind, k.Component)
		}
		if keys[k.Key] || k.Key == "" {
			t.Errorf("%s: key %q empty or taken", k.Kind, k.Key)
		}
		keys[k.Key] = true
		if kindNames[strings.ToLower(k.Kind)] {
			t.Errorf("%s listed twice", k.Kind)
		}
		kindNames[strings.ToLower(k.Kind)] = true
		if k.Artifact && !k.Stored {
			t.Errorf("%s: an artifact the agent does not store", k.Kind)
		}
		if k.Reconcilable && !k.HandlesRequests {
			t.Errorf("%s: reconcilable, but does not record handled requests", k.Kind)
		}
		acts := k.Reconcilable || k.Suspendable || k.Exportable || k.Inventory
		if acts != (k.CLIName != "") {
			t.Errorf("%s: CLIName %q, but reconcilable/suspendable/exportable/inventory: %v", k.Kind, k.CLIName, acts)
		}
		if k.GetName == "" {
			t.Errorf("%s: no get subcommand", k.Kind)
		}
		if k.CLIGroup != "" && k.CLIGroup != "source" && k.CLIGroup != "image" {
			t.Errorf("%s: CLI group %q", k.Kind, k.CLIGroup)
		}
		if k.InGetAll && k.CLIGroup != "" && !k.InGetGroupAll {
			t.Errorf("%s: in `get all` but not in `get %s all`", k.Kind, k.CLIGroup)
		}
		for _, n := range append([]string{k.CLIName}, k.CLIAliases...) {
			if n == "" {
				continue
			}
			if prev, taken := cli[k.CLIGroup+" "+n]; taken {
				t.Errorf("%s: CLI name %q %q also names %s", k.Kind, k.CLIGroup, n, prev)
			}
			cli[k.CLIGroup+" "+n] = k.Kind
		}
		for _, n := range append([]string{k.GetName}, k.GetAliases...) {
			if prev, taken := get[k.CLIGroup+" "+n]; taken || n == "all" {
				t.Errorf("%s: get name %q %q also names %s", k.Kind, k.CLIGroup, n, prev)
			}
			get[k.CLIGroup+" "+n] = k.Kind
		}
	}
	for c := range components {
		if !used[c] {
			t.Errorf("component %s serves no kind", c)
		}
	}
}

// TestReceiverTargetsMatchCRD checks ReceiverTarget against the kinds a Receiver's resources may name.
func TestReceiverTargetsMatchCRD(t *testing.T) {
	crd := crdsByName(t)["receivers.notification.toolkit.fluxcd.io"]
	if crd == nil {
		t.Fatal("no Receiver CRD")
	}
	_, s := storageSchema(crd)
	kind := s.Properties["spec"].Properties["resources"].Items.Schema.Properties["kind"]
	var enum []string
	for _, e := range kind.Enum {
		enum = append(enum, strings.Trim(string(e.Raw), `"`))
	}
	var targets []string
	for _, k := range kinds.Select(func(k kinds.Kind) bool { return k.ReceiverTarget }) {
		targets = append(targets, k.Kind)
	}
	slices.Sort(enum)
	slices.Sort(targets)
	if len(enum) == 0 || !slices.Equal(enum, targets) {
		t.Errorf("Receiver resources may name %v, ReceiverTarget kinds are %v", enum, targets)
	}
}

// TestEngineResources checks the API resources engine packages address directly against the registry.
func TestEngineResources(t *testing.T) {
	named := func(kind string) schema.GroupVersionResource {
		k, ok := kinds.Named(kind)
		if !ok {
			t.Fatalf("%s not in the registry", kind)
		}
		return k.Resource
	}
	for kind, got := range map[string]schema.GroupVersionResource{
		"Kustomization":         reconcile.KustomizationsResource,
		"HelmRelease":           reconcile.HelmReleasesResource,
		"ArtifactGenerator":     reconcile.ArtifactGeneratorsResource,
		"ExternalArtifact":      reconcile.ExternalArtifactsResource,
		"ImageRepository":       image.RepositoriesResource,
		"ImagePolicy":           image.PoliciesResource,
		"ImageUpdateAutomation": image.AutomationsResource,
		"Alert":                 notify.AlertsResource,
		"Provider":              notify.ProvidersResource,
		"Receiver":              receiver.Resource,
	} {
		if want := named(kind); got != want {
			t.Errorf("%s: engine uses %s, the registry %s", kind, got, want)
		}
	}
}

// TestDerivedTables checks the tables derived from the registry hold every entry they must.
func TestDerivedTables(t *testing.T) {
	for _, k := range kinds.All() {
		if got := kinds.MustByKey(k.Key); got.Kind != k.Kind || got.Resource != k.Resource {
			t.Errorf("kinds.MustByKey(%q) = %v", k.Key, got)
		}
		if got, ok := inspect.KindNamed(strings.ToLower(k.Kind)); !ok || got.Kind != k.Kind {
			t.Errorf("inspect.KindNamed(%s) = %v, %v", k.Kind, got, ok)
		}
	}
	all, err := install.CRDs(install.ExtraComponents, nil)
	if err != nil {
		t.Fatal(err)
	}
	def, err := install.CRDs(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var allNames, defNames []string
	for _, u := range all {
		allNames = append(allNames, u.GetName())
	}
	for _, u := range def {
		defNames = append(defNames, u.GetName())
	}
	defaults := map[string]bool{}
	for _, c := range kinds.Components() {
		defaults[c.Name] = c.Default
	}
	for _, k := range kinds.All() {
		if !slices.Contains(allNames, k.CRDName()) {
			t.Errorf("%s: CRD %s not installed with every component", k.Kind, k.CRDName())
		}
		if slices.Contains(defNames, k.CRDName()) != defaults[k.Component] {
			t.Errorf("%s: CRD %s installed by default: %v, component %s default: %v", k.Kind, k.CRDName(), !defaults[k.Component], k.Component, defaults[k.Component])
		}
	}
}

func TestPlural(t *testing.T) {
	for kind, want := range map[string]string{"GitRepository": "GitRepositories", "ImagePolicy": "ImagePolicies", "Bucket": "Buckets", "Kustomization": "Kustomizations"} {
		if got := (kinds.Kind{Kind: kind}).Plural(); got != want {
			t.Errorf("Plural(%s) = %s, want %s", kind, got, want)
		}
	}
}
