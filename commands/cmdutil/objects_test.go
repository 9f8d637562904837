package cmdutil

import "testing"

func TestNamedObjectsValidate(t *testing.T) {
	for _, tc := range []struct {
		names []string
		all   bool
		ok    bool
	}{
		{[]string{"a"}, false, true},
		{nil, true, true},
		{nil, false, false},
		{[]string{"a"}, true, false},
	} {
		err := (&NamedObjects{Names: tc.names, All: tc.all}).Validate()
		if (err == nil) != tc.ok {
			t.Errorf("names %v all %v: err %v", tc.names, tc.all, err)
		}
	}
}
