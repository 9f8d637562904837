package notify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/converge-gitops/converge/crds/meta"
	notificationv1beta3 "github.com/converge-gitops/converge/crds/notification/v1beta3"
	"github.com/converge-gitops/converge/engine/events"
)

// TestCertSecretRefKeys reaches a server that requires a client certificate through certSecretRef Secrets
// in each of the forms source.TLSConfigFromSecret reads (standard and legacy keys), and checks that half a
// key pair is refused with a message naming the Secret and the key.
func TestCertSecretRefKeys(t *testing.T) {
	clientCA, clientCert, clientKey := newClientPair(t)
	var got []byte
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got, _ = io.ReadAll(r.Body) }))
	pool := x509.NewCertPool()
	pool.AddCert(clientCA)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	defer srv.Close()
	caPEM := pemCert(srv.Certificate().Raw)

	for _, tt := range []struct {
		name     string
		data     map[string]string
		ok       bool
		wantWarn string
	}{
		{name: "ca.crt, tls.crt and tls.key", data: map[string]string{"ca.crt": caPEM, "tls.crt": clientCert, "tls.key": clientKey}, ok: true},
		{name: "legacy caFile, certFile and keyFile", data: map[string]string{"caFile": caPEM, "certFile": clientCert, "keyFile": clientKey}, ok: true},
		{name: "no client certificate", data: map[string]string{"ca.crt": caPEM}},
		{name: "tls.crt without tls.key", data: map[string]string{"ca.crt": caPEM, "tls.crt": clientCert},
			wantWarn: `secret flux-system/tls has "tls.crt" without "tls.key"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			spec := notificationv1beta3.ProviderSpec{Type: "generic", Address: srv.URL, CertSecretRef: &meta.LocalObjectReference{Name: "tls"}}
			st, _ := setup(spec, secret("tls", tt.data))
			var warnings []string
			deliver(t, st, testEvent("info", "ReconciliationSucceeded", "ok"), func(n *Notifier) {
				n.Attempts = 1
				n.Warnings = events.Func(func(_ context.Context, e events.Event) { warnings = append(warnings, e.Message) })
			})
			if tt.ok != (got != nil) {
				t.Errorf("delivered = %v, want %v (warnings %q)", got != nil, tt.ok, warnings)
			}
			if tt.wantWarn != "" && (len(warnings) != 1 || !strings.Contains(warnings[0], tt.wantWarn)) {
				t.Errorf("warnings %q, want one with %q", warnings, tt.wantWarn)
			}
		})
	}
}

// newClientPair returns a CA and the PEM of a client certificate and key it signed.
func newClientPair(t *testing.T) (*x509.Certificate, string, string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return ca, pemCert(der), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}
