package cmdutil

import (
	"errors"

	"github.com/spf13/pflag"

	"github.com/converge-gitops/converge/engine/workspace"
)

// AddDecryptionKeyFlag registers --decryption-key (build, diff and apply share it).
func AddDecryptionKeyFlag(fl *pflag.FlagSet, keys *[]string) {
	fl.StringArrayVar(keys, "decryption-key", nil, "file of SOPS age identities or an armored PGP private key, for Kustomizations with spec.decryption (repeatable)")
}

// ValidateWorkspace refuses malformed --local-resource and --local-source values as usage errors.
func ValidateWorkspace(o *workspace.Options) error {
	err := o.Validate()
	var in *workspace.InputError
	if errors.As(err, &in) {
		return &FlagError{Err: in.Err}
	}
	return err
}
