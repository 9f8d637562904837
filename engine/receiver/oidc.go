package receiver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	notificationv1 "github.com/converge-gitops/converge/crds/notification/v1"
	"github.com/converge-gitops/converge/engine/health"
)

// GoogleIssuer is the issuer of the OIDC tokens that Google Pub/Sub push subscriptions send to gcr
// Receivers; its discovery document names Google's signing keys.
const GoogleIssuer = "https://accounts.google.com"

// discoveryTTL is how long an issuer's discovery document is reused; its keys are fetched again
// whenever a token names a key that is not known.
const discoveryTTL = time.Hour

type cachedIssuer struct {
	provider *oidc.Provider
	fetched  time.Time
}

var issuerURLPattern = regexp.MustCompile(`^https?://`)

// ValidateOIDCSpec reports what Flux's Receiver schema and controller refuse about secretRef and
// oidcProviders: generic-oidc needs at least one provider and no secretRef, every other type a secretRef
// and no providers; each provider an http(s) issuerURL (unique), named variables, and at least one
// validation with an expression and a message.
func ValidateOIDCSpec(rcv *notificationv1.Receiver) error {
	isOIDC := rcv.Spec.Type == notificationv1.GenericOIDCReceiver
	switch {
	case isOIDC && len(rcv.Spec.OIDCProviders) == 0:
		return errors.New("generic-oidc receiver requires at least one oidcProvider")
	case !isOIDC && len(rcv.Spec.OIDCProviders) > 0:
		return errors.New("oidcProviders can only be set when type is generic-oidc")
	case isOIDC && rcv.Spec.SecretRef != nil:
		return errors.New("secretRef cannot be set when type is generic-oidc")
	case !isOIDC && rcv.Spec.SecretRef == nil:
		return errors.New("secretRef is required when type is not generic-oidc")
	}
	seen := map[string]bool{}
	for i, p := range rcv.Spec.OIDCProviders {
		if p.IssuerURL == "" {
			return fmt.Errorf("oidcProviders[%d]: issuerURL is required", i)
		}
		if !issuerURLPattern.MatchString(p.IssuerURL) {
			return fmt.Errorf("oidcProviders[%d]: issuerURL %q must start with http:// or https://", i, p.IssuerURL)
		}
		if seen[p.IssuerURL] {
			return fmt.Errorf("oidcProviders[%d]: duplicate issuerURL %q", i, p.IssuerURL)
		}
		seen[p.IssuerURL] = true
		if len(p.Validations) == 0 {
			return fmt.Errorf("oidcProviders[%d] (issuerURL=%q): at least one validation is required: without one, anyone who can get a token from this issuer can trigger the Receiver", i, p.IssuerURL)
		}
		for j, v := range p.Variables {
			if v.Name == "" {
				return fmt.Errorf("oidcProviders[%d] (issuerURL=%q): variables[%d]: name is required", i, p.IssuerURL, j)
			}
			if v.Expression == "" {
				return fmt.Errorf("oidcProviders[%d] (issuerURL=%q): variables[%d] (name=%q): expression is required", i, p.IssuerURL, j, v.Name)
			}
		}
		for j, v := range p.Validations {
			if v.Expression == "" {
				return fmt.Errorf("oidcProviders[%d] (issuerURL=%q): validations[%d]: expression is required", i, p.IssuerURL, j)
			}
			if v.Message == "" {
				return fmt.Errorf("oidcProviders[%d] (issuerURL=%q): validations[%d]: message is required", i, p.IssuerURL, j)
			}
		}
	}
	return nil
}

// claimChecks are an OIDC provider's compiled variables and validations.
type claimChecks struct {
	varNames    []string
	vars        []cel.Program
	validations []cel.Program
	messages    []string
}

// compileClaimChecks compiles p's CEL expressions over claims and vars (both maps), as Flux does.
func compileClaimChecks(p notificationv1.OIDCProvider) (*claimChecks, error) {
	c := &claimChecks{}
	for _, v := range p.Variables {
		// dyn(): a variable may have any type; CompileExpr checks the output type.
		prog, err := health.CompileExpr("dyn("+v.Expression+")", types.DynType, "claims", "vars")
		if err != nil {
			return nil, fmt.Errorf("invalid expression for variable %q: %w", v.Name, err)
		}
		c.varNames = append(c.varNames, v.Name)
		c.vars = append(c.vars, prog)
	}
	for _, v := range p.Validations {
		prog, err := health.CompileExpr(v.Expression, types.BoolType, "claims", "vars")
		if err != nil {
			return nil, fmt.Errorf("invalid expression for validation %q: %w", v.Message, err)
		}
		c.validations = append(c.validations, prog)
		c.messages = append(c.messages, v.Message)
	}
	return c, nil
}

// CompileOIDCProviders reports the first oidcProviders expression of rcv that does not compile.
func CompileOIDCProviders(rcv *notificationv1.Receiver) error {
	for i, p := range rcv.Spec.OIDCProviders {
		if _, err := compileClaimChecks(p); err != nil {
			return fmt.Errorf("oidcProviders[%d] (issuerURL=%q): %w", i, p.IssuerURL, err)
		}
	}
	return nil
}

// check evaluates the variables in order, then every validation; the messages of those that fail
// are joined into the error.
func (c *claimChecks) check(ctx context.Context, claims map[string]any) error {
	vars := map[string]any{}
	in := map[string]any{"claims": claims, "vars": vars}
	for i, prog := range c.vars {
		val, _, err := prog.ContextEval(ctx, in)
		if err != nil {
			return fmt.Errorf("evaluating variable %q: %w", c.varNames[i], err)
		}
		vars[c.varNames[i]] = val
	}
	var failed []string
	for i, prog := range c.validations {
		val, _, err := prog.ContextEval(ctx, in)
		if err != nil {
			return fmt.Errorf("evaluating validation %q: %w", c.messages[i], err)
		}
		if b, ok := val.(types.Bool); !ok || !bool(b) {
			failed = append(failed, c.messages[i])
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("token validation failed: %s", strings.Join(failed, "; "))
	}
	return nil
}

// bearer returns the token of an `Authorization: Bearer <token>` header.
func bearer(hd http.Header) (string, error) {
	const prefix = "Bearer "
	v := hd.Get("Authorization")
	if !strings.HasPrefix(v, prefix) {
		return "", errors.New("the Authorization header is missing or is not a bearer token")
	}
	tok := strings.TrimSpace(v[len(prefix):])
	if tok == "" {
		return "", errors.New("the Authorization header has an empty bearer token")
	}
	return tok, nil
}

// unverifiedIssuer reads the iss claim of a JWT without verifying it: it only chooses the provider
// that then verifies the token.
func unverifiedIssuer(raw string) (string, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", errors.New("the bearer token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", errors.New("the bearer token's payload is not base64url")
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", errors.New("the bearer token's payload is not a JSON object")
	}
	if c.Iss == "" {
		return "", errors.New("the bearer token has no iss claim")
	}
	return c.Iss, nil
}

// issuer returns the OIDC provider of issuer, discovered at <issuer>/.well-known/openid-configuration
// through h.HTTPClient and kept for discoveryTTL.
func (h *Handler) issuer(ctx context.Context, issuer string) (*oidc.Provider, error) {
	now := h.now()
	h.mu.Lock()
	c, ok := h.issuers[issuer]
	h.mu.Unlock()
	if ok && now.Sub(c.fetched) < discoveryTTL {
		return c.provider, nil
	}
	client := h.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, client), issuer)
	if err != nil {
		return nil, fmt.Errorf("discovering the OIDC issuer %q: %w", issuer, err)
	}
	h.mu.Lock()
	if h.issuers == nil || len(h.issuers) > 256 {
		h.issuers = map[string]cachedIssuer{}
	}
	h.issuers[issuer] = cachedIssuer{provider: p, fetched: now}
	h.mu.Unlock()
	return p, nil
}

// verifyToken verifies raw's signature with issuer's keys, its iss, that audience is among its aud,
// and its expiry (and nbf) against h's clock; it returns the token's claims.
func (h *Handler) verifyToken(ctx context.Context, issuer, audience, raw string) (map[string]any, error) {
	p, err := h.issuer(ctx, issuer)
	if err != nil {
		return nil, &httpError{code: http.StatusInternalServerError, msg: "the OIDC issuer could not be reached", detail: err.Error()}
	}
	tok, err := p.Verifier(&oidc.Config{ClientID: audience, Now: h.now}).Verify(ctx, raw)
	if err != nil {
		return nil, &httpError{code: http.StatusUnauthorized, msg: "the bearer token is not valid", detail: err.Error()}
	}
	claims := map[string]any{}
	if err := tok.Claims(&claims); err != nil {
		return nil, &httpError{code: http.StatusUnauthorized, msg: "the bearer token's claims cannot be decoded", detail: err.Error()}
	}
	return claims, nil
}

// validateGenericOIDC authenticates a generic-oidc call: the provider whose issuerURL is the token's
// iss verifies it (audience: the provider's, default notification-controller), then its CEL
// validations must all hold. It returns the verified claims.
func (h *Handler) validateGenericOIDC(ctx context.Context, rcv *notificationv1.Receiver, hd http.Header) (map[string]any, error) {
	raw, err := bearer(hd)
	if err != nil {
		return nil, fail(http.StatusUnauthorized, "%v", err)
	}
	iss, err := unverifiedIssuer(raw)
	if err != nil {
		return nil, fail(http.StatusUnauthorized, "%v", err)
	}
	var provider *notificationv1.OIDCProvider
	for i := range rcv.Spec.OIDCProviders {
		if rcv.Spec.OIDCProviders[i].IssuerURL == iss {
			provider = &rcv.Spec.OIDCProviders[i]
			break
		}
	}
	if provider == nil {
		return nil, fail(http.StatusUnauthorized, "no oidcProvider is configured for the token's issuer")
	}
	claims, err := h.verifyToken(ctx, provider.IssuerURL, provider.GetAudience(), raw)
	if err != nil {
		return nil, err
	}
	checks, err := compileClaimChecks(*provider)
	if err != nil { // Status refuses these; the Receiver changed since
		return nil, &httpError{code: http.StatusInternalServerError, msg: "the receiver's oidcProviders are invalid", detail: err.Error()}
	}
	if err := checks.check(ctx, claims); err != nil {
		return nil, fail(http.StatusUnauthorized, "%v", err)
	}
	return claims, nil
}

// validateGCR authenticates a Google Pub/Sub push as Flux does: the bearer token is verified against
// Google's issuer (h.GoogleIssuer) with the Secret's audience, and its email claim must be the
// Secret's email, with email_verified true.
func (h *Handler) validateGCR(ctx context.Context, hd http.Header, secret map[string][]byte) error {
	email, audience := string(secret["email"]), string(secret["audience"])
	if email == "" || audience == "" {
		// Status refuses such a Secret; it changed since.
		return fail(http.StatusInternalServerError, "the receiver's Secret lacks the email or audience key")
	}
	raw, err := bearer(hd)
	if err != nil {
		return fail(http.StatusUnauthorized, "%v", err)
	}
	iss := h.GoogleIssuer
	if iss == "" {
		iss = GoogleIssuer
	}
	claims, err := h.verifyToken(ctx, iss, audience, raw)
	if err != nil {
		return err
	}
	if got, _ := claims["email"].(string); got != email {
		return &httpError{code: http.StatusUnauthorized, msg: "the token's email is not the receiver's service account",
			detail: fmt.Sprintf("token email is %q, want %q", got, email)}
	}
	if verified, _ := claims["email_verified"].(bool); !verified {
		return fail(http.StatusUnauthorized, "the token's email is not verified")
	}
	return nil
}
