package helmrelease

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"sigs.k8s.io/yaml"
)

// installOrder is Helm 4's install order of kinds; unknown kinds come last, by kind name.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
	"PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
	"PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
	"ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding",
	"RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
	"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
}

// hookEvents are the hook events Helm knows ("test-success" is Helm 2's name for "test").
var hookEvents = map[string]string{
	string(release.HookPreInstall):   string(release.HookPreInstall),
	string(release.HookPostInstall):  string(release.HookPostInstall),
	string(release.HookPreDelete):    string(release.HookPreDelete),
	string(release.HookPostDelete):   string(release.HookPostDelete),
	string(release.HookPreUpgrade):   string(release.HookPreUpgrade),
	string(release.HookPostUpgrade):  string(release.HookPostUpgrade),
	string(release.HookPreRollback):  string(release.HookPreRollback),
	string(release.HookPostRollback): string(release.HookPostRollback),
	string(release.HookTest):         string(release.HookTest),
	"test-success":                   string(release.HookTest),
}

// manifestDoc is one document of a rendered template.
type manifestDoc struct {
	path    string
	content string
	head    releaseutil.SimpleHead
	// hooks only
	events         []string
	weight         int
	deletePolicies []string
}

func (m *manifestDoc) name() string {
	if m.head.Metadata == nil {
		return ""
	}
	return m.head.Metadata.Name
}

var docSep = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

// splitManifests splits a stream of YAML documents, in order, dropping empty ones.
func splitManifests(stream string) []string {
	var docs []string
	for _, d := range docSep.Split(strings.TrimLeftFunc(stream, unicode.IsSpace), -1) {
		if strings.TrimSpace(d) == "" {
			continue
		}
		docs = append(docs, strings.TrimLeftFunc(d, unicode.IsSpace))
	}
	return docs
}

// sortManifests splits rendered files into hooks and manifests as Helm does: files by name (partials and
// empty files skipped), documents in file order, a document with a helm.sh/hook annotation a hook (one
// with an unknown hook event is dropped), then both sorted by kind in install order, keeping the order
// of equal kinds.
func sortManifests(files map[string]string) (hooks, manifests []*manifestDoc, err error) {
	for _, name := range sortedKeys(files) {
		content := files[name]
		if strings.HasPrefix(path.Base(name), "_") || strings.TrimSpace(content) == "" {
			continue
		}
	docs:
		for _, doc := range splitManifests(content) {
			m := &manifestDoc{path: name, content: doc}
			if err := yaml.Unmarshal([]byte(doc), &m.head); err != nil {
				return nil, nil, fmt.Errorf("YAML parse error on %s: %w", name, err)
			}
			var annotations map[string]string
			if m.head.Metadata != nil {
				annotations = m.head.Metadata.Annotations
			}
			hookTypes, ok := annotations[release.HookAnnotation]
			if !ok {
				manifests = append(manifests, m)
				continue
			}
			for _, t := range strings.Split(hookTypes, ",") {
				e, ok := hookEvents[strings.ToLower(strings.TrimSpace(t))]
				if !ok {
					continue docs
				}
				m.events = append(m.events, e)
			}
			if w, err := strconv.Atoi(annotations[release.HookWeightAnnotation]); err == nil {
				m.weight = w
			}
			if dps, ok := annotations[release.HookDeleteAnnotation]; ok {
				for _, dp := range strings.Split(dps, ",") {
					m.deletePolicies = append(m.deletePolicies, strings.ToLower(strings.TrimSpace(dp)))
				}
			}
			hooks = append(hooks, m)
		}
	}
	byKind(hooks)
	byKind(manifests)
	return hooks, manifests, nil
}

func byKind(docs []*manifestDoc) {
	rank := make(map[string]int, len(installOrder))
	for i, k := range installOrder {
		rank[k] = i
	}
	sort.SliceStable(docs, func(i, j int) bool {
		a, b := docs[i].head.Kind, docs[j].head.Kind
		ra, aok := rank[a]
		rb, bok := rank[b]
		switch {
		case !aok && !bok:
			return a < b
		case !aok:
			return false
		case !bok:
			return true
		}
		return ra < rb
	})
}
