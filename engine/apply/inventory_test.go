package apply

import "testing"

func TestInventoryIDRoundTrip(t *testing.T) {
	tests := []struct {
		meta ObjMeta
		id   string
	}{
		{ObjMeta{Namespace: "apps", Name: "web", Group: "apps", Kind: "Deployment"}, "apps_web_apps_Deployment"},
		{ObjMeta{Name: "demo", Kind: "Namespace"}, "_demo__Namespace"},
		{ObjMeta{Name: "system:aggregate-to-view", Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}, "_system__aggregate-to-view_rbac.authorization.k8s.io_ClusterRole"},
	}
	for _, tt := range tests {
		if got := tt.meta.ID(); got != tt.id {
			t.Errorf("ID() = %q, want %q", got, tt.id)
		}
		back, err := ParseID(tt.id, "v1")
		if err != nil {
			t.Fatalf("ParseID(%q): %v", tt.id, err)
		}
		tt.meta.Version = "v1"
		if back != tt.meta {
			t.Errorf("ParseID(%q) = %+v, want %+v", tt.id, back, tt.meta)
		}
	}
	for _, bad := range []string{"", "a_b", "ns_name_group_"} {
		if _, err := ParseID(bad, "v1"); err == nil {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}
