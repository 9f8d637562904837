package workspace

import (
	"testing"

	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source"
)

const keys = "../../testdata/build/keys"

// TestNewBuilderLocalKeys: apply and diff wrap the local resources in a kube.Chain with the cluster;
// the local keys must still reach the builder.
func TestNewBuilderLocalKeys(t *testing.T) {
	t.Setenv("SOPS_AGE_KEY", "")
	t.Setenv("SOPS_AGE_KEY_FILE", "")
	local, _, err := Inputs(&Options{DecryptionKeys: []string{keys + "/test.agekey", keys + "/test.asc"}})
	if err != nil {
		t.Fatal(err)
	}
	if local.Keys.Empty() {
		t.Fatal("no keys read")
	}
	for name, vars := range map[string]interface {
		source.ConfigMaps
		source.Secrets
	}{"local": local, "chain": kube.Chain{build.NewLocalResources(), local}} {
		if b := NewBuilder(vars); b.LocalKeys != local.Keys {
			t.Errorf("%s: builder has keys %v", name, b.LocalKeys)
		}
	}
	none, _, err := Inputs(&Options{})
	if err != nil || none.Keys != nil {
		t.Errorf("keys %v, error %v without any key", none.Keys, err)
	}
}
