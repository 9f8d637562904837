package cloud

import (
	"context"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Keychain logs in to every registry it is asked for through provider's workload identity
// (RegistryLogin); a registry provider cannot log in to is an error naming it.
func (i *Identity) Keychain(ctx context.Context, provider string) authn.Keychain {
	return keychain{ctx: ctx, id: i.orDefault(), provider: provider}
}

type keychain struct {
	ctx      context.Context //nolint:containedctx // authn.Keychain.Resolve takes none
	id       *Identity
	provider string
}

func (k keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	l, err := k.id.RegistryLogin(k.ctx, k.provider, r.RegistryStr())
	if err != nil {
		return nil, err
	}
	return authn.FromConfig(authn.AuthConfig{Username: l.Username, Password: l.Password}), nil
}
