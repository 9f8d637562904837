package create

import (
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/converge-gitops/converge/commands/cmdutil"
	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/image"
)

// imageCommands returns `create image repository|policy|update`.
func imageCommands(f *cmdutil.Factory) []*cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Create or update image automation objects"}
	cmd.AddCommand(newCmdImageRepository(f), newCmdImagePolicy(f), newCmdImageUpdate(f))
	return []*cobra.Command{cmd}
}

func imageTypeMeta(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: imagev1.GroupVersion.String(), Kind: kind}
}

func newCmdImageRepository(f *cmdutil.Factory) *cobra.Command {
	var img, secretRef, certSecretRef, provider string
	var exclusions, labels []string
	var insecure bool
	interval := metav1.Duration{Duration: time.Minute}
	var timeout metav1.Duration
	cmd := &cobra.Command{
		Use:   "repository NAME",
		Short: "Create or update an ImageRepository: a registry repository whose tags are scanned",
		Example: `  converge create image repository podinfo --image ghcr.io/stefanprodan/podinfo --interval 5m --export
  converge create image repository app --image registry.example/org/app --secret-ref regcred`,
		Args: cobra.ExactArgs(1),
		RunE: cmdutil.RunE(f, &createRunner{build: func(args []string) (runtime.Object, error) {
			if img == "" {
				return nil, cmdutil.FlagErrorf("--image is required")
			}
			if _, err := image.ParseRepository(img, insecure); err != nil {
				return nil, cmdutil.FlagErrorf("--image: %v", err)
			}
			om, err := objectMeta(f, args[0], labels)
			if err != nil {
				return nil, err
			}
			r := &imagev1.ImageRepository{TypeMeta: imageTypeMeta(imagev1.ImageRepositoryKind), ObjectMeta: om,
				Spec: imagev1.ImageRepositorySpec{Image: img, Interval: interval, ExclusionList: exclusions, Insecure: insecure, Provider: provider}}
			if secretRef != "" {
				r.Spec.SecretRef = &meta.LocalObjectReference{Name: secretRef}
			}
			if certSecretRef != "" {
				r.Spec.CertSecretRef = &meta.LocalObjectReference{Name: certSecretRef}
			}
			if timeout.Duration > 0 {
				r.Spec.Timeout = &timeout
			}
			return r, nil
		}}, false),
	}
	fl := cmd.Flags()
	fl.StringVar(&img, "image", "", "image repository to scan, e.g. ghcr.io/org/app (no tag)")
	fl.Var(durationFlag{&interval}, "interval", "scan interval")
	fl.Var(durationFlag{&timeout}, "scan-timeout", "timeout of one scan (default: the interval)")
	fl.StringVar(&secretRef, "secret-ref", "", "docker-registry Secret with the registry credentials")
	fl.StringVar(&certSecretRef, "cert-ref", "", "Secret with ca.crt and/or tls.crt + tls.key (Flux's name)")
	fl.StringVar(&certSecretRef, "cert-secret-ref", "", "Secret with ca.crt and/or tls.crt + tls.key (same as --cert-ref)")
	fl.StringArrayVar(&exclusions, "exclusion-list", nil, "regular expression of tags to ignore (repeatable; default ^.*\\.sig$)")
	fl.BoolVar(&insecure, "insecure", false, "the registry is plain HTTP")
	fl.StringVar(&provider, "provider", "", "registry authentication provider: generic, aws, azure, gcp")
	fl.StringSliceVar(&labels, "label", nil, "set labels on the resource (label1=value1,label2=value2; repeatable)")
	return cmd
}

func newCmdImagePolicy(f *cmdutil.Factory) *cobra.Command {
	var repoRef, semverRange, alpha, numeric, filterRegex, filterExtract, reflect string
	var labels []string
	var interval metav1.Duration
	cmd := &cobra.Command{
		Use:   "policy NAME",
		Short: "Create or update an ImagePolicy: how the latest image of an ImageRepository is elected",
		Example: `  converge create image policy podinfo --image-ref podinfo --select-semver '>=1.0.0' --export
  converge create image policy builds --image-ref app --filter-regex '^main-[a-f0-9]+-(?P<ts>[0-9]+)' \
    --filter-extract '$ts' --select-numeric asc`,
		Args: cobra.ExactArgs(1),
		RunE: cmdutil.RunE(f, &createRunner{build: func(args []string) (runtime.Object, error) {
			if repoRef == "" {
				return nil, cmdutil.FlagErrorf("--image-ref is required")
			}
			var choice imagev1.ImagePolicyChoice
			n := 0
			if semverRange != "" {
				choice.SemVer, n = &imagev1.SemVerPolicy{Range: semverRange}, n+1
			}
			if alpha != "" {
				choice.Alphabetical, n = &imagev1.AlphabeticalPolicy{Order: alpha}, n+1
			}
			if numeric != "" {
				choice.Numerical, n = &imagev1.NumericalPolicy{Order: numeric}, n+1
			}
			if n != 1 {
				return nil, cmdutil.FlagErrorf("give exactly one of --select-semver, --select-alpha and --select-numeric")
			}
			if filterExtract != "" && filterRegex == "" {
				return nil, cmdutil.FlagErrorf("--filter-extract needs --filter-regex")
			}
			om, err := objectMeta(f, args[0], labels)
			if err != nil {
				return nil, err
			}
			p := &imagev1.ImagePolicy{TypeMeta: imageTypeMeta(imagev1.ImagePolicyKind), ObjectMeta: om,
				Spec: imagev1.ImagePolicySpec{ImageRepositoryRef: meta.NamespacedObjectReference{Name: repoRef}, Policy: choice}}
			if filterRegex != "" {
				p.Spec.FilterTags = &imagev1.TagFilter{Pattern: filterRegex, Extract: filterExtract}
			}
			switch imagev1.ReflectionPolicy(reflect) {
			case "":
			case imagev1.ReflectNever, imagev1.ReflectIfNotPresent, imagev1.ReflectAlways:
				p.Spec.DigestReflectionPolicy = imagev1.ReflectionPolicy(reflect)
			default:
				return nil, cmdutil.FlagErrorf("--reflect-digest %q: want Never, IfNotPresent or Always", reflect)
			}
			if interval.Duration > 0 {
				if p.Spec.DigestReflectionPolicy != imagev1.ReflectAlways {
					return nil, cmdutil.FlagErrorf("--interval is only accepted with --reflect-digest Always")
				}
				p.Spec.Interval = &interval
			} else if p.Spec.DigestReflectionPolicy == imagev1.ReflectAlways {
				return nil, cmdutil.FlagErrorf("--reflect-digest Always needs --interval")
			}
			if _, err := image.NewPolicy(p.Spec); err != nil {
				return nil, cmdutil.FlagErrorf("%v", err)
			}
			return p, nil
		}}, false),
	}
	fl := cmd.Flags()
	fl.StringVar(&repoRef, "image-ref", "", "name of the ImageRepository")
	fl.StringVar(&semverRange, "select-semver", "", "elect the highest tag within this semver range")
	fl.StringVar(&alpha, "select-alpha", "", "elect by alphabetical order: asc (last) or desc (first)")
	fl.StringVar(&numeric, "select-numeric", "", "elect by numerical order: asc (largest) or desc (smallest)")
	fl.StringVar(&filterRegex, "filter-regex", "", "keep only the tags matching this regular expression")
	fl.StringVar(&filterExtract, "filter-extract", "", "replacement (e.g. $ts) the ordering applies to")
	fl.StringVar(&reflect, "reflect-digest", "", "digest in status.latestRef: Never, IfNotPresent or Always")
	fl.Var(durationFlag{&interval}, "interval", "digest refresh interval (with --reflect-digest Always)")
	fl.StringSliceVar(&labels, "label", nil, "set labels on the resource (label1=value1,label2=value2; repeatable)")
	return cmd
}

func newCmdImageUpdate(f *cmdutil.Factory) *cobra.Command {
	var gitRepo, gitRepoNamespace, path, checkoutBranch, pushBranch, authorName, authorEmail, template, signingKey, signingKeyType string
	var labels []string
	interval := metav1.Duration{Duration: time.Minute}
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Create or update an ImageUpdateAutomation: commit the elected images to Git",
		Example: `  converge create image update flux-system --git-repo-ref flux-system --git-repo-path ./clusters/prod \
    --checkout-branch main --push-branch main --author-name fluxbot --author-email fluxbot@example.com --export`,
		Args: cobra.ExactArgs(1),
		RunE: cmdutil.RunE(f, &createRunner{build: func(args []string) (runtime.Object, error) {
			if gitRepo == "" {
				return nil, cmdutil.FlagErrorf("--git-repo-ref is required")
			}
			if authorEmail == "" {
				return nil, cmdutil.FlagErrorf("--author-email is required")
			}
			om, err := objectMeta(f, args[0], labels)
			if err != nil {
				return nil, err
			}
			u := &imagev1.ImageUpdateAutomation{TypeMeta: imageTypeMeta(imagev1.ImageUpdateAutomationKind), ObjectMeta: om,
				Spec: imagev1.ImageUpdateAutomationSpec{
					SourceRef: imagev1.CrossNamespaceSourceReference{Kind: sourcev1.GitRepositoryKind, Name: gitRepo, Namespace: gitRepoNamespace},
					Interval:  interval,
					GitSpec: &imagev1.GitSpec{Commit: imagev1.CommitSpec{
						Author:          imagev1.CommitUser{Name: authorName, Email: authorEmail},
						MessageTemplate: template,
					}},
					Update: &imagev1.UpdateStrategy{Strategy: imagev1.UpdateStrategySetters, Path: path},
				}}
			if checkoutBranch != "" {
				u.Spec.GitSpec.Checkout = &imagev1.GitCheckoutSpec{Reference: sourcev1.GitRepositoryRef{Branch: checkoutBranch}}
			}
			if pushBranch != "" {
				u.Spec.GitSpec.Push = &imagev1.PushSpec{Branch: pushBranch}
			}
			switch imagev1.SigningKeyType(signingKeyType) {
			case "", imagev1.SigningKeyTypeGPG, imagev1.SigningKeyTypeSSH:
			default:
				return nil, cmdutil.FlagErrorf("--signing-key-type %q: want gpg or ssh", signingKeyType)
			}
			if signingKey != "" {
				u.Spec.GitSpec.Commit.SigningKey = &imagev1.SigningKey{SecretRef: meta.LocalObjectReference{Name: signingKey},
					Type: imagev1.SigningKeyType(signingKeyType)}
			} else if signingKeyType != "" {
				return nil, cmdutil.FlagErrorf("--signing-key-type needs --signing-key-secret")
			}
			if template != "" {
				if _, err := image.RenderMessage(template, image.TemplateData{}); err != nil {
					return nil, cmdutil.FlagErrorf("--commit-template: %v", err)
				}
			}
			return u, nil
		}}, false),
	}
	fl := cmd.Flags()
	fl.StringVar(&gitRepo, "git-repo-ref", "", "name of the GitRepository to update")
	fl.StringVar(&gitRepoNamespace, "git-repo-namespace", "", "namespace of the GitRepository (default: the automation's)")
	fl.StringVar(&path, "git-repo-path", "", "folder of the repository whose files are updated (default: the root)")
	fl.StringVar(&checkoutBranch, "checkout-branch", "", "branch to check out (default: the GitRepository's ref)")
	fl.StringVar(&pushBranch, "push-branch", "", "branch to push to (default: the checkout branch)")
	fl.StringVar(&authorName, "author-name", "", "commit author name")
	fl.StringVar(&authorEmail, "author-email", "", "commit author email")
	fl.StringVar(&template, "commit-template", "", "commit message template (Go template over .Changed)")
	fl.StringVar(&signingKey, "signing-key-secret", "", "Secret with the key commits are signed with (git.asc for gpg, identity for ssh)")
	fl.StringVar(&signingKey, "signing-key-ref", "", "same as --signing-key-secret")
	fl.StringVar(&signingKeyType, "signing-key-type", "", "signing key type: gpg (default) or ssh")
	fl.Var(durationFlag{&interval}, "interval", "automation interval")
	fl.StringSliceVar(&labels, "label", nil, "set labels on the resource (label1=value1,label2=value2; repeatable)")
	return cmd
}
