package create

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/converge-gitops/converge/engine/testenv"
)

var cluster *testenv.Cluster

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

const files = "../../testdata/create/files/"

// TestCreateFluxExport compares `create ... --export` with golden files; each case's output was checked
// byte for byte against Flux 2.9's CLI given the same flags.
func TestCreateFluxExport(t *testing.T) {
	tests := []struct {
		golden string
		args   string
	}{
		{"source-git.yaml", "source git podinfo --url https://github.com/stefanprodan/podinfo --branch master --ignore-paths a,b"},
		{"source-git-all.yaml", "source git podinfo --url https://github.com/stefanprodan/podinfo --tag v1 --commit abc --branch x --fetch-timeout 30s " +
			"--label a=b,c=d --interval 5m --recurse-submodules --sparse-checkout-paths x,y --provider github --proxy-secret-ref p --secret-ref s"},
		{"source-git-semver.yaml", "source git podinfo --url ssh://git@github.com/stefanprodan/podinfo --tag-semver >1"},
		{"source-helm.yaml", "source helm bitnami --url https://charts.bitnami.com/bitnami -n apps --label a=b"},
		{"source-helm-oci.yaml", "source helm oci --url oci://ghcr.io/x --secret-ref s --oci-provider aws --pass-credentials"},
		{"source-oci.yaml", "source oci podinfo --url oci://ghcr.io/stefanprodan/manifests/podinfo --tag latest --verify-provider cosign " +
			"--verify-subject s --layer-selector application/vnd.cncf.flux.content.v1.tar+gzip:extract"},
		{"source-oci-all.yaml", "source oci podinfo --url oci://x/y --digest sha256:abc --tag-semver 1.x --insecure --provider aws --secret-ref s " +
			"--cert-ref c --proxy-secret-ref p --service-account sa --ignore-paths a --verify-provider cosign --verify-secret-ref vs --layer-selector foo:copy"},
		{"source-bucket.yaml", "source bucket bk --bucket-name x --endpoint minio:9000 --insecure --access-key a --secret-key b --region r " +
			"--secret-ref s --provider aws --ignore-paths x"},
		{"source-chart.yaml", "source chart ch --source HelmRepository/bitnami --chart nginx --chart-version 1.x"},
		{"source-chart-git.yaml", "source chart ch --source GitRepository/bitnami --chart ./c --reconcile-strategy Revision --verify-provider cosign --verify-issuer i"},
		{"kustomization.yaml", "ks apps --source GitRepository/flux-system --path ./apps --prune --wait --depends-on infra,other/db " +
			"--health-check Deployment/x.y --decryption-provider sops --decryption-secret sops-age"},
		{"kustomization-defaults.yaml", "kustomization apps --source flux-system"},
		{"kustomization-health.yaml", "ks apps --source OCIRepository/x.ns --path ./a --health-check Deployment/x.y --health-check HelmRelease/a.b " +
			"--target-namespace t --service-account sa --retry-interval 1m --kubeconfig-secret-ref kc --health-check-timeout 5m --label x=y"},
		{"kustomization-path.yaml", "ks apps --source x --path ../../apps/./x"},
		{"helmrelease.yaml", "hr web --source HelmRepository/bitnami.flux-system --chart nginx --chart-version 1.x --target-namespace web " +
			"--create-target-namespace --crds CreateReplace --depends-on db --values-from Secret/vals"},
		{"helmrelease-chartref.yaml", "helmrelease x2 --chart-ref OCIRepository/podinfo"},
		{"helmrelease-values.yaml", "hr x3 --source GitRepository/g --chart ./c --values " + files + "values-1.yaml," + files + "values-2.yaml " +
			"--chart-interval 5m --release-name rel --storage-namespace sn --service-account sa --reconcile-strategy Revision " +
			"--kubeconfig-secret-ref k --values-from configmap/cm"},
		{"tenant.yaml", "tenant dev --with-namespace dev,dev2"},
		{"tenant-skip-namespace.yaml", "tenant dev --with-namespace dev --with-service-account sa --cluster-role view --skip-namespace --label a=b"},
		{"secret-git-basic.yaml", "secret git gs --url https://github.com/x/y -u git -p tok"},
		{"secret-git-bearer.yaml", "secret git gg --url https://x/y --bearer-token t --ca-crt-file " + files + "ca.pem --label a=b"},
		{"secret-helm-basic.yaml", "secret helm hs -u a -p b --ca-crt-file " + files + "ca.pem"},
		{"secret-helm-tls.yaml", "secret helm hs -u a -p b --tls-crt-file " + files + "tls.crt --tls-key-file " + files + "tls.key"},
		{"secret-helm-empty.yaml", "secret helm hs"},
		{"secret-oci.yaml", "secret oci os --url ghcr.io/x/y -u a -p b"},
		{"secret-tls.yaml", "secret tls ts --tls-crt-file " + files + "tls.crt --tls-key-file " + files + "tls.key --ca-crt-file " + files + "ca.pem"},
		{"secret-tls-ca.yaml", "secret tls ts --ca-crt-file " + files + "ca.pem"},
		{"secret-proxy.yaml", "secret proxy ps --address http://p:8080 -u a -p b"},
		{"secret-notation.yaml", "secret notation ns1 --trust-policy-file " + files + "trustpolicy.json --ca-cert-file " + files + "ca.pem"},
		{"secret-githubapp.yaml", "secret githubapp ga --app-id 1 --app-installation-id 2 --app-base-url https://ghe --app-private-key " + files + "tls.key"},
		{"secret-receiver.yaml", "secret receiver rs --type github --token t0k --hostname flux.example.com"},
		{"secret-receiver-gcr.yaml", "secret receiver rs --type gcr --token t --hostname h --email-claim e@x"},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			args, ns := strings.Fields(tt.args), ""
			if i := slices.Index(args, "-n"); i >= 0 {
				ns = args[i+1]
				args = slices.Delete(args, i, i+2)
			}
			out, errOut, code := runCreate(t, ns, append(args, "--export")...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			checkGolden(t, filepath.Join("..", "..", "testdata", "create", tt.golden), out)
		})
	}
}

// TestCreateFluxErrors checks that bad flags are refused with Flux's messages, before anything is written.
func TestCreateFluxErrors(t *testing.T) {
	for _, tt := range []struct{ args, want string }{
		{"source git podinfo --url https://github.com/x/y", "a Git ref is required"},
		{"source git podinfo --url ftp://x --branch x", "git URL scheme 'ftp' not supported"},
		{"source git p --url https://x --branch x", "name 'p' is invalid"},
		{"source git podinfo --url ssh://x/y --branch x --ca-file ca.pem", "specifying a CA file is not supported for Git over SSH"},
		{"source git podinfo --url https://x/y --branch x --label a", "invalid label format 'a', must be key=value"},
		{"source helm h1 --url ftp://x", "url scheme 'ftp' not supported"},
		{"source oci o1 --url oci://x/y", "--tag, --tag-semver or --digest is required"},
		{"source oci o1 --url oci://x/y --tag t --layer-selector foo", "must be in the format '<media-type>:<operation>'"},
		{"source oci o1 --url oci://x/y --tag t --verify-subject s", "a verification provider must be specified"},
		{"source bucket b1 --endpoint e", "bucket-name is required"},
		{"source chart c1 --source OCIRepository/x --chart c", "source kind 'OCIRepository' is not supported"},
		{"source chart c1 --source HelmRepository/x --chart c --reconcile-strategy x", "'x' is an invalid reconcile strategy"},
		{"ks k1 --source x --health-check Deployment/x", "must be in the format 'kind/name.namespace'"},
		{"ks k1 --source x --health-check Pod/x.y", "invalid health check kind 'Pod'"},
		{"ks k1 --source HelmRepository/x", "source kind 'HelmRepository' is not supported"},
		{"hr h1 --source HelmRepository/x", "chart or chart-ref is required"},
		{"hr h1 --source GitRepository/g --chart ./c --chart-ref HelmChart/x", "cannot use --chart in combination with --chart-ref"},
		{"hr h1 --chart-ref GitRepository/x", "chart reference kind 'GitRepository' is not supported"},
		{"hr h1 --chart-ref OCIRepository/x --values-from Pod/x", "reference kind 'Pod' is not supported"},
		{"tenant dev", "with-namespace is required"},
		{"source git", "name is required"},
		{"secret git gs --url https://x/y -u a", "the username and password, or a bearer token is required"},
		{"secret git gs --url https://x/y -u a -p b --bearer-token t", "user credentials and bearer token cannot be used together"},
		{"secret tls ts", "no CA certificate or client certificate pair found"},
		{"secret helm hs --tls-crt-file " + files + "tls.crt", "found certificate but missing private key"},
		{"secret oci os --url ghcr.io/x/y -u a", "--password is required"},
		{"secret notation n1 --trust-policy-file " + files + "trustpolicy.json --ca-cert-file " + files + "values-1.yaml", "must end with either .crt or .pem"},
		{"secret receiver rs --type foo --hostname h", "receiver type 'foo' is not supported"},
		{"secret receiver rs --type gcr --hostname h", "--email-claim is required for gcr receiver type"},
	} {
		t.Run(tt.args, func(t *testing.T) {
			_, errOut, code := runCreate(t, "", append(strings.Fields(tt.args), "--export")...)
			if code == 0 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q, want %q", code, errOut, tt.want)
			}
		})
	}
}
