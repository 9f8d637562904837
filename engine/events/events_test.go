package events

import (
	"reflect"
	"testing"
)

func TestMetadataFromAnnotations(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		want        map[string]string
	}{
		{"none", nil, nil},
		{"other annotations only", map[string]string{"kustomize.toolkit.fluxcd.io/prune": "disabled"}, nil},
		{"prefix alone is no key", map[string]string{AnnotationPrefix: "x"}, nil},
		{"change request kept whole", map[string]string{
			"event.toolkit.fluxcd.io/change_request": "7",
			"event.toolkit.fluxcd.io/env":            "prod",
			"fluxcd.io/other":                        "no",
		}, map[string]string{"event.toolkit.fluxcd.io/change_request": "7", "event.toolkit.fluxcd.io/env": "prod"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MetadataFromAnnotations(tt.annotations); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
