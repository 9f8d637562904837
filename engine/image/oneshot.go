package image

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
	"github.com/converge-gitops/converge/engine/manifest"
)

// Objects are the ImageRepositories and ImagePolicies a one-shot update works with.
type Objects struct {
	Repositories []imagev1.ImageRepository
	Policies     []imagev1.ImagePolicy
}

// LoadObjects reads the ImageRepositories and ImagePolicies (any served version) from the YAML files under
// root; objects without a namespace get defaultNamespace.
func LoadObjects(root, defaultNamespace string) (*Objects, error) {
	objs := &Objects{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if ext := filepath.Ext(p); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !strings.Contains(string(data), imagev1.GroupVersion.Group) {
			return nil
		}
		for _, doc := range manifest.SplitDocuments(data) {
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if yaml.Unmarshal(doc.Data, &head) != nil || !strings.HasPrefix(head.APIVersion, imagev1.GroupVersion.Group+"/") {
				continue
			}
			where := fmt.Sprintf("%s:%d", p, doc.Line)
			switch head.Kind {
			case imagev1.ImageRepositoryKind:
				var r imagev1.ImageRepository
				if err := yaml.Unmarshal(doc.Data, &r); err != nil {
					return fmt.Errorf("%s: ImageRepository: %w", where, err)
				}
				if r.Namespace == "" {
					r.Namespace = defaultNamespace
				}
				objs.Repositories = append(objs.Repositories, r)
			case imagev1.ImagePolicyKind:
				var pol imagev1.ImagePolicy
				if err := yaml.Unmarshal(doc.Data, &pol); err != nil {
					return fmt.Errorf("%s: ImagePolicy: %w", where, err)
				}
				if pol.Namespace == "" {
					pol.Namespace = defaultNamespace
				}
				objs.Policies = append(objs.Policies, pol)
			}
		}
		return nil
	})
	return objs, err
}

// Election is the image a policy elected in a one-shot update, or why it could not.
type Election struct {
	Policy     string            `json:"policy"`
	Repository string            `json:"repository"`
	Latest     *imagev1.ImageRef `json:"latest,omitempty"`
	Error      string            `json:"error,omitempty"`
}

// Elect scans every repository the policies reference (once each) and elects each policy's image.
func (s *Scanner) Elect(ctx context.Context, objs *Objects) (Policies, []Election) {
	repos := map[string]*imagev1.ImageRepository{}
	for i := range objs.Repositories {
		r := &objs.Repositories[i]
		repos[r.Namespace+"/"+r.Name] = r
	}
	scanned := map[string]error{}
	elected := Policies{}
	var out []Election
	for _, pol := range objs.Policies {
		ns := pol.Spec.ImageRepositoryRef.Namespace
		if ns == "" {
			ns = pol.Namespace
		}
		rid := ns + "/" + pol.Spec.ImageRepositoryRef.Name
		e := Election{Policy: pol.Namespace + "/" + pol.Name, Repository: rid}
		repo, ok := repos[rid]
		if !ok {
			e.Error = fmt.Sprintf("ImagePolicy %s: ImageRepository %s not found", e.Policy, rid)
			out = append(out, e)
			continue
		}
		if err, done := scanned[rid]; !done {
			_, err = s.Scan(ctx, repo)
			scanned[rid] = err
		}
		if err := scanned[rid]; err != nil {
			e.Error = fmt.Sprintf("ImagePolicy %s: %v", e.Policy, err)
			out = append(out, e)
			continue
		}
		latest, err := electWithRepo(ctx, s, &pol, repo)
		if err != nil {
			e.Error = err.Error()
		} else {
			e.Latest = latest
			elected[e.Policy] = *latest
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Election) int { return strings.Compare(a.Policy, b.Policy) })
	return elected, out
}

func electWithRepo(ctx context.Context, s *Scanner, pol *imagev1.ImagePolicy, repo *imagev1.ImageRepository) (*imagev1.ImageRef, error) {
	r := &Reconciler{Scanner: s, Clock: s.Clock}
	out := r.electPolicy(ctx, pol, repo)
	return out.Latest, out.Err
}
