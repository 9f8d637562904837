package create

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/converge-gitops/converge/commands/cmdutil"
	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	engcreate "github.com/converge-gitops/converge/engine/create"
)

// fluxCommands returns `create source ...`, `create kustomization`, `create helmrelease` and
// `create tenant`.
func fluxCommands(f *cmdutil.Factory) []*cobra.Command {
	source := &cobra.Command{Use: "source", Short: "Create or update sources"}
	source.PersistentFlags().Duration("fetch-timeout", 0, "set a timeout for fetch operations performed by source-controller (e.g. 'git clone' or 'helm repo update')")
	source.AddCommand(newCmdSourceGit(f), newCmdSourceHelm(f), newCmdSourceOCI(f), newCmdSourceBucket(f), newCmdSourceChart(f))
	return []*cobra.Command{source, newCmdKustomization(f), newCmdHelmRelease(f), newCmdTenant(f)}
}

func fetchTimeout(cmd *cobra.Command) time.Duration {
	d, _ := cmd.Flags().GetDuration("fetch-timeout")
	return d
}

func credentialsNoun(kind string) string {
	if kind == sourcev1.BucketKind {
		return "the bucket credentials"
	}
	return "repository credentials"
}

func setSecretRef(obj runtime.Object, name string) {
	ref := &meta.LocalObjectReference{Name: name}
	switch o := obj.(type) {
	case *sourcev1.GitRepository:
		o.Spec.SecretRef = ref
	case *sourcev1.HelmRepository:
		o.Spec.SecretRef = ref
	case *sourcev1.Bucket:
		o.Spec.SecretRef = ref
	}
}

func completeFixed(cmd *cobra.Command, flag string, values ...string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}

func newCmdSourceGit(f *cmdutil.Factory) *cobra.Command {
	o := engcreate.GitRepositoryOptions{}
	s := engcreate.GitSecretOptions{KeyAlgorithm: "ecdsa", RSABits: 2048, ECDSACurve: "p384"}
	var silent bool
	var cmd *cobra.Command
	r := &fluxRunner{meta: &o.Meta, interval: &o.Interval, noun: "GitRepository source", ready: sourceReady("GitRepository source")}
	r.build = func() (runtime.Object, error) {
		o.FetchTimeout = fetchTimeout(cmd)
		return engcreate.GitRepository(o)
	}
	r.credentials = func(ctx context.Context, r *fluxRunner) (*corev1.Secret, error) {
		if o.SecretRef != "" {
			return nil, nil
		}
		u, _ := url.Parse(o.URL)
		s.Meta, s.URL = engcreate.Meta{Name: o.Name, Namespace: o.Namespace}, o.URL
		st := r.IO.ErrStyles()
		switch u.Scheme {
		case "http":
			fmt.Fprintln(r.IO.ErrOut, st.WarningLine("insecure configuration: credentials configured for an HTTP URL"))
			fallthrough
		case "https":
			s.CAFile, s.Anonymous = o.CAFile, true
		}
		secret, err := engcreate.GitSecret(ctx, s)
		if err != nil || secret == nil {
			return nil, err
		}
		if hk, ok := secret.StringData["known_hosts"]; ok {
			fmt.Fprintln(r.IO.ErrOut, st.SuccessLine("collected public key from SSH server:\n"+hk))
		}
		if pub, ok := secret.StringData["identity.pub"]; ok {
			fmt.Fprintln(r.IO.ErrOut, generateLine(st, "deploy key: "+pub))
			if !silent && !cmdutil.Confirm(r.IO, "Have you added the deploy key to your repository") {
				return nil, fmt.Errorf("aborting")
			}
		}
		return secret, nil
	}
	cmd = &cobra.Command{
		Use:   "git [name]",
		Short: "Create or update a GitRepository source",
		Long: "Create or update a GitRepository source. Without --secret-ref, credentials given by flags are written\n" +
			"to a Secret of the same name; for ssh:// URLs a key pair is generated (or read with --private-key-file)\n" +
			"and the server's host key scanned.",
		Example: `  # A public repository, printed
  converge create source git podinfo --url https://github.com/stefanprodan/podinfo --branch master --export

  # Over SSH, with a generated ed25519 deploy key
  converge create source git fleet --url ssh://git@github.com/org/fleet --branch main --ssh-key-algorithm ed25519`,
		Args: cobra.MaximumNArgs(1),
		RunE: cmdutil.RunE(f, r, true),
	}
	fl := cmd.Flags()
	fl.StringVar(&o.URL, "url", "", "git address, e.g. ssh://git@host/org/repository")
	fl.StringVar(&o.Branch, "branch", "", "git branch")
	fl.StringVar(&o.Tag, "tag", "", "git tag")
	fl.StringVar(&o.SemVer, "tag-semver", "", "git tag semver range")
	fl.StringVar(&o.RefName, "ref-name", "", "git reference name")
	fl.StringVar(&o.Commit, "commit", "", "git commit")
	fl.StringVarP(&s.Username, "username", "u", "", "basic authentication username")
	fl.StringVarP(&s.Password, "password", "p", "", "basic authentication password")
	fl.StringVar(&s.KeyAlgorithm, "ssh-key-algorithm", s.KeyAlgorithm, "SSH public key algorithm: rsa, ecdsa, ed25519")
	cmdutil.RSAKeyBitsVar(fl, &s.RSABits, "ssh-rsa-bits", "SSH RSA public key bit size (multiplies of 8, min 1024)")
	fl.StringVar(&s.ECDSACurve, "ssh-ecdsa-curve", s.ECDSACurve, "SSH ECDSA public key curve: p256, p384, p521")
	fl.StringVar(&o.SecretRef, "secret-ref", "", "the name of an existing secret containing SSH or basic credentials or github app authentication")
	fl.StringVar(&o.ProxySecretRef, "proxy-secret-ref", "", "the name of an existing secret containing the proxy address and credentials")
	fl.StringVar(&o.Provider, "provider", "", "the Git provider name: generic, github, aws, azure")
	fl.StringVar(&o.CAFile, "ca-file", "", "path to TLS CA file used for validating self-signed certificates")
	fl.StringVar(&s.PrivateKeyFile, "private-key-file", "", "path to a passwordless private key file used for authenticating to the Git SSH server")
	fl.BoolVar(&o.RecurseSubmodules, "recurse-submodules", false, "when enabled, configures the GitRepository source to initialize and include Git submodules in the artifact it produces")
	fl.BoolVarP(&silent, "silent", "s", false, "assumes the deploy key is already setup, skips confirmation")
	fl.StringSliceVar(&o.IgnorePaths, "ignore-paths", nil, "set paths to ignore in git resource (can specify multiple paths with commas: path1,path2)")
	fl.StringSliceVar(&o.SparseCheckoutPaths, "sparse-checkout-paths", nil, "set paths to sparse checkout in git resource (can specify multiple paths with commas: path1,path2)")
	completeFixed(cmd, "ssh-key-algorithm", "rsa", "ecdsa", "ed25519")
	completeFixed(cmd, "ssh-ecdsa-curve", "p256", "p384", "p521")
	completeFixed(cmd, "provider", "generic", "github", "aws", "azure")
	return cmd
}

func newCmdSourceHelm(f *cmdutil.Factory) *cobra.Command {
	o := engcreate.HelmRepositoryOptions{}
	s := engcreate.HelmSecretOptions{}
	var cmd *cobra.Command
	r := &fluxRunner{meta: &o.Meta, interval: &o.Interval, noun: "HelmRepository source", created: "source",
		ready:  sourceReady("HelmRepository source"),
		static: func(obj runtime.Object) bool { return obj.(*sourcev1.HelmRepository).Spec.Type == "oci" }}
	r.build = func() (runtime.Object, error) {
		o.FetchTimeout = fetchTimeout(cmd)
		return engcreate.HelmRepository(o)
	}
	r.credentials = func(context.Context, *fluxRunner) (*corev1.Secret, error) {
		if o.SecretRef != "" || (s.Username == "" && s.Password == "" && s.CAFile == "" && s.CertFile == "" && s.KeyFile == "") {
			return nil, nil
		}
		s.Meta = engcreate.Meta{Name: o.Name, Namespace: o.Namespace}
		return engcreate.HelmSecret(s)
	}
	cmd = &cobra.Command{
		Use:   "helm [name]",
		Short: "Create or update a HelmRepository source",
		Example: `  converge create source helm bitnami --url https://charts.bitnami.com/bitnami --export
  converge create source helm podinfo --url oci://ghcr.io/stefanprodan/charts --export`,
		Args: cobra.MaximumNArgs(1),
		RunE: cmdutil.RunE(f, r, true),
	}
	fl := cmd.Flags()
	fl.StringVar(&o.URL, "url", "", "Helm repository address")
	fl.StringVarP(&s.Username, "username", "u", "", "basic authentication username")
	fl.StringVarP(&s.Password, "password", "p", "", "basic authentication password")
	fl.StringVar(&s.CertFile, "cert-file", "", "TLS authentication cert file path")
	fl.StringVar(&s.KeyFile, "key-file", "", "TLS authentication key file path")
	fl.StringVar(&s.CAFile, "ca-file", "", "TLS authentication CA file path")
	fl.StringVar(&o.SecretRef, "secret-ref", "", "the name of an existing secret containing TLS, basic auth or docker-config credentials")
	fl.StringVar(&o.OCIProvider, "oci-provider", "", "OCI provider for authentication")
	fl.BoolVar(&o.PassCredentials, "pass-credentials", false, "pass credentials to all domains")
	return cmd
}

func newCmdSourceOCI(f *cmdutil.Factory) *cobra.Command {
	o := engcreate.OCIRepositoryOptions{Provider: "generic"}
	var cmd *cobra.Command
	r := &fluxRunner{meta: &o.Meta, interval: &o.Interval, noun: "OCIRepository", ready: sourceReady("OCIRepository")}
	r.build = func() (runtime.Object, error) {
		o.FetchTimeout = fetchTimeout(cmd)
		return engcreate.OCIRepository(o)
	}
	cmd = &cobra.Command{
		Use:     "oci [name]",
		Short:   "Create or update an OCIRepository",
		Example: `  converge create source oci podinfo --url oci://ghcr.io/stefanprodan/manifests/podinfo --tag latest --export`,
		Args:    cobra.MaximumNArgs(1),
		RunE:    cmdutil.RunE(f, r, true),
	}
	fl := cmd.Flags()
	fl.StringVar(&o.URL, "url", "", "the OCI repository URL")
	fl.StringVar(&o.Tag, "tag", "", "the OCI artifact tag")
	fl.StringVar(&o.SemVer, "tag-semver", "", "the OCI artifact tag semver range")
	fl.StringVar(&o.Digest, "digest", "", "the OCI artifact digest")
	fl.StringVar(&o.Provider, "provider", o.Provider, "the OCI provider name: generic, aws, azure, gcp")
	fl.StringVar(&o.SecretRef, "secret-ref", "", "the name of the Kubernetes image pull secret (type 'kubernetes.io/dockerconfigjson')")
	fl.StringVar(&o.ProxySecretRef, "proxy-secret-ref", "", "the name of an existing secret containing the proxy address and credentials")
	fl.StringVar(&o.ServiceAccount, "service-account", "", "the name of the Kubernetes service account that refers to an image pull secret")
	fl.StringVar(&o.CertSecretRef, "cert-ref", "", "the name of a secret to use for TLS certificates")
	fl.StringVar(&o.VerifyProvider, "verify-provider", "", "the OCI verify provider name to use for signature verification, available options are: (cosign)")
	fl.StringVar(&o.VerifySecretRef, "verify-secret-ref", "", "the name of a secret to use for signature verification")
	fl.StringVar(&o.VerifySubject, "verify-subject", "", "regular expression to use for the OIDC subject during signature verification")
	fl.StringVar(&o.VerifyOIDCIssuer, "verify-issuer", "", "regular expression to use for the OIDC issuer during signature verification")
	fl.StringSliceVar(&o.IgnorePaths, "ignore-paths", nil, "set paths to ignore resources (can specify multiple paths with commas: path1,path2)")
	fl.BoolVar(&o.Insecure, "insecure", false, "for when connecting to a non-TLS registries over plain HTTP")
	fl.StringVar(&o.LayerSelector, "layer-selector", "", "the OCI artifact layer selector in the format '<media-type>:<operation>'")
	completeFixed(cmd, "provider", "generic", "aws", "azure", "gcp")
	completeFixed(cmd, "verify-provider", "cosign")
	return cmd
}

func newCmdSourceBucket(f *cmdutil.Factory) *cobra.Command {
	o := engcreate.BucketOptions{Provider: "generic"}
	var accessKey, secretKey string
	var cmd *cobra.Command
	r := &fluxRunner{meta: &o.Meta, interval: &o.Interval, noun: "Bucket source", ready: sourceReady("Bucket source")}
	r.build = func() (runtime.Object, error) {
		o.FetchTimeout = fetchTimeout(cmd)
		return engcreate.Bucket(o)
	}
	r.credentials = func(context.Context, *fluxRunner) (*corev1.Secret, error) {
		if o.SecretRef != "" || (accessKey == "" && secretKey == "") {
			return nil, nil
		}
		om, err := engcreate.Meta{Name: o.Name, Namespace: o.Namespace}.ObjectMeta()
		if err != nil {
			return nil, err
		}
		data := map[string]string{}
		if accessKey != "" {
			data["accesskey"] = accessKey
		}
		if secretKey != "" {
			data["secretkey"] = secretKey
		}
		return &corev1.Secret{TypeMeta: secretTypeMeta, ObjectMeta: om, StringData: data}, nil
	}
	cmd = &cobra.Command{
		Use:   "bucket [name]",
		Short: "Create or update a Bucket source",
		Example: `  converge create source bucket podinfo --bucket-name podinfo --endpoint minio.minio.svc.cluster.local:9000 \
    --insecure --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" --export`,
		Args: cobra.MaximumNArgs(1),
		RunE: cmdutil.RunE(f, r, true),
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Provider, "provider", o.Provider, "the S3 compatible storage provider name: generic, aws, azure, gcp")
	fl.StringVar(&o.BucketName, "bucket-name", "", "the bucket name")
	fl.StringVar(&o.Endpoint, "endpoint", "", "the bucket endpoint address")
	fl.StringVar(&accessKey, "access-key", "", "the bucket access key")
	fl.StringVar(&secretKey, "secret-key", "", "the bucket secret key")
	fl.StringVar(&o.Region, "region", "", "the bucket region")
	fl.BoolVar(&o.Insecure, "insecure", false, "for when connecting to a non-TLS S3 HTTP endpoint")
	fl.StringVar(&o.SecretRef, "secret-ref", "", "the name of an existing secret containing credentials")
	fl.StringVar(&o.ProxySecretRef, "proxy-secret-ref", "", "the name of an existing secret containing the proxy address and credentials")
	fl.StringSliceVar(&o.IgnorePaths, "ignore-paths", nil, "set paths to ignore in bucket resource (can specify multiple paths with commas: path1,path2)")
	completeFixed(cmd, "provider", "generic", "aws", "azure", "gcp")
	return cmd
}

func newCmdSourceChart(f *cmdutil.Factory) *cobra.Command {
	o := engcreate.HelmChartOptions{ReconcileStrategy: "ChartVersion"}
	r := &fluxRunner{meta: &o.Meta, interval: &o.Interval, noun: "HelmChart source", created: "source", ready: sourceReady("HelmChart source")}
	r.build = func() (runtime.Object, error) { return engcreate.HelmChart(o) }
	cmd := &cobra.Command{
		Use:   "chart [name]",
		Short: "Create or update a HelmChart source",
		Example: `  converge create source chart podinfo --source HelmRepository/podinfo --chart podinfo --chart-version ">=6.0.0" --export
  converge create source chart podinfo --source GitRepository/podinfo --chart ./charts/podinfo --export`,
		Args: cobra.MaximumNArgs(1),
		RunE: cmdutil.RunE(f, r, true),
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Source, "source", "", "source that contains the chart in the format '<kind>/<name>', where kind must be one of: (HelmRepository, GitRepository, Bucket)")
	fl.StringVar(&o.Chart, "chart", "", "Helm chart name or path")
	fl.StringVar(&o.ChartVersion, "chart-version", "", "Helm chart version, accepts a semver range (ignored for charts from GitRepository sources)")
	fl.StringVar(&o.ReconcileStrategy, "reconcile-strategy", o.ReconcileStrategy, "the reconcile strategy for helm chart (accepted values: Revision and ChartRevision)")
	fl.StringVar(&o.VerifyProvider, "verify-provider", "", "the OCI verify provider name to use for signature verification, available options are: (cosign)")
	fl.StringVar(&o.VerifySecretRef, "verify-secret-ref", "", "the name of a secret to use for signature verification")
	fl.StringVar(&o.VerifySubject, "verify-subject", "", "regular expression to use for the OIDC subject during signature verification")
	fl.StringVar(&o.VerifyOIDCIssuer, "verify-issuer", "", "regular expression to use for the OIDC issuer during signature verification")
	completeFixed(cmd, "reconcile-strategy", "ChartVersion", "Revision")
	return cmd
}

func newCmdKustomization(f *cmdutil.Factory) *cobra.Command {
	o := engcreate.KustomizationOptions{Path: "./", HealthCheckTimeout: 2 * time.Minute}
	r := &fluxRunner{meta: &o.Meta, interval: &o.Interval, noun: "Kustomization", ready: appliedReady(kustomizev1.KustomizationKind)}
	r.build = func() (runtime.Object, error) { return engcreate.Kustomization(o) }
	cmd := &cobra.Command{
		Use:     "kustomization [name]",
		Aliases: []string{"ks"},
		Short:   "Create or update a Kustomization resource",
		Example: `  converge create kustomization apps --source GitRepository/flux-system --path ./apps --prune --interval 10m --export
  converge create kustomization secrets --source flux-system --path ./secrets --decryption-provider sops --decryption-secret sops-age --export`,
		Args: cobra.MaximumNArgs(1),
		RunE: cmdutil.RunE(f, r, true),
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Source, "source", "", "source that contains the Kubernetes manifests in the format '[<kind>/]<name>.<namespace>', where kind must be one of: (OCIRepository, GitRepository, Bucket), if kind is not specified it defaults to GitRepository")
	fl.StringVar(&o.Path, "path", o.Path, "path to the directory containing a kustomization.yaml file")
	fl.BoolVar(&o.Prune, "prune", false, "enable garbage collection")
	fl.BoolVar(&o.Wait, "wait", false, "enable health checking of all the applied resources")
	fl.StringSliceVar(&o.HealthChecks, "health-check", nil, "workload to be included in the health assessment, in the format '<kind>/<name>.<namespace>'")
	fl.DurationVar(&o.HealthCheckTimeout, "health-check-timeout", o.HealthCheckTimeout, "timeout of health checking operations")
	fl.StringVar(&o.ServiceAccount, "service-account", "", "the name of the service account to impersonate when reconciling this Kustomization")
	fl.StringVar(&o.DecryptionProvider, "decryption-provider", "", "decryption provider, available options are: (sops)")
	fl.StringVar(&o.DecryptionSecret, "decryption-secret", "", "set the Kubernetes secret name that contains the OpenPGP private keys used for sops decryption")
	fl.StringSliceVar(&o.DependsOn, "depends-on", nil, "Kustomization that must be ready before this Kustomization can be applied, supported formats '<name>' and '<namespace>/<name>', also accepts comma-separated values")
	fl.StringVar(&o.TargetNamespace, "target-namespace", "", "overrides the namespace of all Kustomization objects reconciled by this Kustomization")
	fl.DurationVar(&o.RetryInterval, "retry-interval", 0, "the interval at which to retry a previously failed reconciliation")
	fl.StringVar(&o.KubeConfigSecretRef, "kubeconfig-secret-ref", "", "the name of the Kubernetes Secret that contains a key with the kubeconfig file for connecting to a remote cluster")
	completeFixed(cmd, "decryption-provider", "sops")
	return cmd
}

func newCmdHelmRelease(f *cmdutil.Factory) *cobra.Command {
	o := engcreate.HelmReleaseOptions{ReconcileStrategy: "ChartVersion"}
	r := &fluxRunner{meta: &o.Meta, interval: &o.Interval, noun: "HelmRelease", ready: appliedReady(helmv2.HelmReleaseKind)}
	r.build = func() (runtime.Object, error) { return engcreate.HelmRelease(o) }
	cmd := &cobra.Command{
		Use:     "helmrelease [name]",
		Aliases: []string{"hr"},
		Short:   "Create or update a HelmRelease resource",
		Example: `  converge create helmrelease podinfo --source HelmRepository/podinfo --chart podinfo --chart-version ">4.0.0" --export
  converge create hr podinfo --target-namespace test --create-target-namespace --chart-ref OCIRepository/podinfo --export`,
		Args: cobra.MaximumNArgs(1),
		RunE: cmdutil.RunE(f, r, true),
	}
	fl := cmd.Flags()
	fl.StringVar(&o.ReleaseName, "release-name", "", "name used for the Helm release, defaults to a composition of '[<target-namespace>-]<HelmRelease-name>'")
	fl.StringVar(&o.Source, "source", "", "source that contains the chart in the format '<kind>/<name>.<namespace>', where kind must be one of: (HelmRepository, GitRepository, Bucket)")
	fl.StringVar(&o.Chart, "chart", "", "Helm chart name or path")
	fl.StringVar(&o.ChartVersion, "chart-version", "", "Helm chart version, accepts a semver range (ignored for charts from GitRepository sources)")
	fl.DurationVar(&o.ChartInterval, "chart-interval", 0, "the interval of which to check for new chart versions")
	fl.StringVar(&o.ChartRef, "chart-ref", "", "the name of the HelmChart resource to use as source for the HelmRelease, in the format '<kind>/<name>.<namespace>', where kind must be one of: (OCIRepository,HelmChart)")
	fl.StringSliceVar(&o.DependsOn, "depends-on", nil, "HelmReleases that must be ready before this release can be installed, supported formats '<name>' and '<namespace>/<name>'")
	fl.StringVar(&o.TargetNamespace, "target-namespace", "", "namespace to install this release, defaults to the HelmRelease namespace")
	fl.StringVar(&o.StorageNamespace, "storage-namespace", "", "namespace to store the Helm release, defaults to the target namespace")
	fl.BoolVar(&o.CreateTargetNamespace, "create-target-namespace", false, "create the target namespace if it does not exist")
	fl.StringVar(&o.ServiceAccount, "service-account", "", "the name of the service account to impersonate when reconciling this HelmRelease")
	fl.StringVar(&o.ReconcileStrategy, "reconcile-strategy", o.ReconcileStrategy, "the reconcile strategy for helm chart created by the helm release(accepted values: Revision and ChartRevision)")
	fl.StringSliceVar(&o.ValuesFiles, "values", nil, "local path to values.yaml files, also accepts comma-separated values")
	fl.StringSliceVar(&o.ValuesFrom, "values-from", nil, "a Kubernetes object reference that contains the values.yaml data key in the format '<kind>/<name>', where kind must be one of: (Secret,ConfigMap)")
	fl.StringVar(&o.CRDs, "crds", "", "upgrade CRDs policy: Skip, Create, CreateReplace")
	fl.StringVar(&o.KubeConfigSecretRef, "kubeconfig-secret-ref", "", "the name of the Kubernetes Secret that contains a key with the kubeconfig file for connecting to a remote cluster")
	completeFixed(cmd, "crds", "Skip", "Create", "CreateReplace")
	completeFixed(cmd, "reconcile-strategy", "ChartVersion", "Revision")
	return cmd
}

// tenantRunner creates a tenant's namespaces, service accounts and role bindings.
type tenantRunner struct {
	Common
	o    engcreate.TenantOptions
	objs []runtime.Object
}

func (r *tenantRunner) Complete(f *cmdutil.Factory, cmd *cobra.Command, args []string) error {
	r.Common = common(f, cmd)
	if len(args) < 1 {
		return cmdutil.FlagErrorf("name is required")
	}
	r.o.Name = args[0]
	var err error
	r.o.Labels, err = cmd.Flags().GetStringSlice("label")
	return err
}

func (r *tenantRunner) Validate() (err error) {
	r.objs, err = engcreate.Tenant(r.o)
	return err
}

func (r *tenantRunner) Run(ctx context.Context) error {
	if r.Export {
		return r.export("", r.objs...)
	}
	st := r.IO.ErrStyles()
	for _, obj := range r.objs {
		what := map[string]string{"Namespace": "namespace", "ServiceAccount": "service account", "RoleBinding": "role binding"}[obj.GetObjectKind().GroupVersionKind().Kind]
		us, err := toUnstructured(obj)
		if err != nil {
			return err
		}
		fmt.Fprintln(r.IO.ErrOut, st.ActionLine(fmt.Sprintf("applying %s %s", what, us[0].GetName())))
		if _, err := r.applyObjects(ctx, obj); err != nil {
			return err
		}
	}
	fmt.Fprintln(r.IO.ErrOut, st.SuccessLine("tenant setup completed"))
	return nil
}

func newCmdTenant(f *cmdutil.Factory) *cobra.Command {
	r := &tenantRunner{o: engcreate.TenantOptions{ClusterRole: "cluster-admin"}}
	cmd := &cobra.Command{
		Use:   "tenant",
		Short: "Create or update a tenant",
		Long: "Create or update a tenant: for each of its namespaces, the namespace, a service account and a role\n" +
			"binding giving the account (and the user gotk:<namespace>:reconciler) the cluster role there.",
		Example: `  converge create tenant dev-team --with-namespace frontend --with-namespace backend --label environment=dev --export`,
		Args:    cobra.MaximumNArgs(1),
		RunE:    cmdutil.RunE(f, r, true),
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&r.o.Namespaces, "with-namespace", nil, "namespace belonging to this tenant")
	fl.StringVar(&r.o.ClusterRole, "cluster-role", r.o.ClusterRole, "cluster role of the tenant role binding")
	fl.StringVar(&r.o.ServiceAccount, "with-service-account", "", "service account belonging to this tenant")
	fl.BoolVar(&r.o.SkipNamespace, "skip-namespace", false, "skip namespace creation (namespace must exist already)")
	return cmd
}
