package build

import (
	"strings"
	"testing"
)

const fidelity = "../../testdata/build/fidelity"

// TestBuildOutputAsFlux: block scalars (folded, literal, every chomping), ambiguous plain scalars
// (yes, on, 0755, timestamps), quoting, comments, key order, empty and null values, anchors, and the
// same manifests through postBuild substitution print as `flux build ks --recursive` prints them. The
// golden was checked against Flux's CLI when written; only converge's "# Source:" comments differ.
func TestBuildOutputAsFlux(t *testing.T) {
	out, errOut, code := run(t, fidelity+"/clusters/fidelity", "--root", fidelity)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "build-fidelity.yaml", out)
}

// TestBuildSOPSLocalResource: a --local-resource file may be SOPS-encrypted; it is decrypted with the
// local keys, and without one the error names the file and how to give a key.
func TestBuildSOPSLocalResource(t *testing.T) {
	t.Setenv("SOPS_AGE_KEY", "")
	t.Setenv("SOPS_AGE_KEY_FILE", "")
	file := repo + "/sops/age/db-credentials.enc.yaml"
	spec := "--local-resource=Secret/apps/db-credentials=" + file
	tests := []struct {
		name   string
		args   []string
		env    string
		code   int
		stderr []string
	}{
		{name: "no key", args: []string{spec}, code: 2, stderr: []string{"local resource " + file + ": SOPS decryption: no decryption key was given",
			"age1y96qhum5qej62qhlpqjg9hv4jhg4ymxghw8xpel375clhd8stv9shwecax", "--decryption-key FILE, SOPS_AGE_KEY or SOPS_AGE_KEY_FILE"}},
		{name: "wrong key", args: []string{spec, "--decryption-key", keys + "/wrong.agekey"}, code: 2,
			stderr: []string{"local resource " + file + ": SOPS decryption: none of the keys given"}},
		{name: "--decryption-key", args: []string{spec, "--decryption-key", keys + "/test.agekey"}},
		{name: "SOPS_AGE_KEY_FILE", args: []string{spec}, env: keys + "/test.agekey"},
		{name: "wrong name", args: []string{"--local-resource=Secret/apps/other=" + file, "--decryption-key", keys + "/test.agekey"}, code: 2,
			stderr: []string{"holds Secret db-credentials, want Secret other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SOPS_AGE_KEY_FILE", tt.env)
			_, errOut, code := run(t, append([]string{repo + "/plain", "--root", repo}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, errOut)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr %q lacks %q", errOut, s)
				}
			}
		})
	}
}
