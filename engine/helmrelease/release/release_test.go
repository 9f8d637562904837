package release

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
)

func TestTargetChanged(t *testing.T) {
	recorded := func(mutate func(hr *helmv2.HelmRelease)) *helmv2.HelmRelease {
		hr := &helmv2.HelmRelease{}
		hr.Namespace, hr.Name = "apps", "web"
		hr.Status.StorageNamespace = "apps"
		hr.Status.History = helmv2.Snapshots{{Name: "web", Namespace: "apps", Version: 1, ChartName: "simple"}}
		mutate(hr)
		return hr
	}
	tests := []struct {
		name   string
		hr     *helmv2.HelmRelease
		chart  string
		reason string
	}{
		{"unchanged", recorded(func(*helmv2.HelmRelease) {}), "simple", ""},
		{"never released", recorded(func(hr *helmv2.HelmRelease) { hr.Status.StorageNamespace = "" }), "simple", ""},
		{"storage namespace", recorded(func(hr *helmv2.HelmRelease) { hr.Spec.StorageNamespace = "other" }), "simple", "storage namespace"},
		{"target namespace", recorded(func(hr *helmv2.HelmRelease) { hr.Spec.TargetNamespace = "other" }), "simple", "release namespace"},
		{"release name", recorded(func(hr *helmv2.HelmRelease) { hr.Spec.ReleaseName = "other" }), "simple", "release name"},
		{"chart name", recorded(func(*helmv2.HelmRelease) {}), "renamed", "chart name"},
		{"chart name in place", recorded(func(hr *helmv2.HelmRelease) {
			hr.Spec.Upgrade = &helmv2.Upgrade{ChartNameChangeStrategy: helmv2.ChartNameChangeStrategyInPlaceUpdate}
		}), "renamed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, changed := targetChanged(tt.hr, tt.chart)
			if reason != tt.reason || changed != (tt.reason != "") {
				t.Fatalf("got %q %v, want %q", reason, changed, tt.reason)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	cond := func(t, status, reason string, gen int64) metav1.Condition {
		return metav1.Condition{Type: t, Status: metav1.ConditionStatus(status), Reason: reason, Message: reason, ObservedGeneration: gen}
	}
	tests := []struct {
		name        string
		test        *helmv2.Test
		conds       []metav1.Condition
		ready, why  string
		keepsTestOK bool
	}{
		{"released", nil, []metav1.Condition{cond("Released", "True", "InstallSucceeded", 1)}, "True", "InstallSucceeded", false},
		{"remediation is never ready", nil, []metav1.Condition{cond("Released", "False", "UpgradeFailed", 2), cond("Remediated", "True", "RollbackSucceeded", 2)}, "False", "RollbackSucceeded", false},
		{"newer generation wins", nil, []metav1.Condition{cond("Remediated", "True", "RollbackSucceeded", 1), cond("Released", "True", "UpgradeSucceeded", 2)}, "True", "UpgradeSucceeded", false},
		{"test failure counts", &helmv2.Test{Enable: true}, []metav1.Condition{cond("Released", "True", "UpgradeSucceeded", 1), cond("TestSuccess", "False", "TestFailed", 1)}, "False", "TestFailed", true},
		{"ignored test failure", &helmv2.Test{Enable: true, IgnoreFailures: true}, []metav1.Condition{cond("Released", "True", "UpgradeSucceeded", 1), cond("TestSuccess", "False", "TestFailed", 1)}, "True", "UpgradeSucceeded", true},
		{"tests disabled drop TestSuccess", nil, []metav1.Condition{cond("Released", "True", "UpgradeSucceeded", 1), cond("TestSuccess", "False", "TestFailed", 1)}, "True", "UpgradeSucceeded", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hr := &helmv2.HelmRelease{}
			hr.Generation = 2
			hr.Spec.Test = tt.test
			hr.Status.Conditions = append([]metav1.Condition(nil), tt.conds...)
			(&Releaser{Clock: clock.RealClock{}}).summarize(hr)
			var ready, testOK *metav1.Condition
			for i := range hr.Status.Conditions {
				switch hr.Status.Conditions[i].Type {
				case "Ready":
					ready = &hr.Status.Conditions[i]
				case "TestSuccess":
					testOK = &hr.Status.Conditions[i]
				}
			}
			if ready == nil || string(ready.Status) != tt.ready || ready.Reason != tt.why || ready.ObservedGeneration != 2 {
				t.Fatalf("Ready %+v, want %s %s", ready, tt.ready, tt.why)
			}
			if (testOK != nil) != tt.keepsTestOK {
				t.Fatalf("TestSuccess kept %v, want %v", testOK != nil, tt.keepsTestOK)
			}
		})
	}
}
