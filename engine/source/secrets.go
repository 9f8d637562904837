package source

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"

	corev1 "k8s.io/api/core/v1"
)

// TLSConfigFromSecret builds a client TLS configuration from a Secret with ca.crt (added to the system
// pool) and/or the tls.crt and tls.key pair, as Flux reads certSecretRef.
func TLSConfigFromSecret(secret *corev1.Secret) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	certPEM, keyPEM := secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey]
	switch {
	case len(certPEM) > 0 && len(keyPEM) > 0:
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("secret %s/%s: client certificate: %w", secret.Namespace, secret.Name, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	case len(certPEM) > 0 || len(keyPEM) > 0:
		return nil, fmt.Errorf("secret %s/%s: %s and %s must be given together", secret.Namespace, secret.Name, corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	if ca := secret.Data["ca.crt"]; len(ca) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("secret %s/%s: ca.crt holds no PEM certificate", secret.Namespace, secret.Name)
		}
		cfg.RootCAs = pool
	}
	if cfg.Certificates == nil && cfg.RootCAs == nil {
		return nil, fmt.Errorf("secret %s/%s has none of ca.crt, tls.crt and tls.key", secret.Namespace, secret.Name)
	}
	return cfg, nil
}

// ProxyURLFromSecret reads Flux's proxy Secret (proxySecretRef): address (required), username and password.
func ProxyURLFromSecret(secret *corev1.Secret) (*url.URL, error) {
	addr := string(secret.Data["address"])
	if addr == "" {
		return nil, fmt.Errorf("secret %s/%s has no address", secret.Namespace, secret.Name)
	}
	u, err := url.Parse(addr)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("secret %s/%s: address %q is not a URL such as http://proxy:3128", secret.Namespace, secret.Name, addr)
	}
	if user := string(secret.Data["username"]); user != "" {
		u.User = url.UserPassword(user, string(secret.Data["password"]))
	}
	return u, nil
}
