package git

import (
	"testing"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
)

func TestServesRef(t *testing.T) {
	head := "0123456789abcdef0123456789abcdef01234567"
	other := "89abcdef0123456789abcdef0123456789abcdef"
	onMain := &WorkTree{Branch: "main", Head: head}
	detached := &WorkTree{Head: head}
	tests := []struct {
		name string
		w    *WorkTree
		ref  *sourcev1.GitRepositoryRef
		also *sourcev1.GitRepositoryRef
		want bool
	}{
		{"no ref", onMain, nil, nil, true},
		{"empty ref", onMain, &sourcev1.GitRepositoryRef{}, nil, true},
		{"checked-out branch", onMain, &sourcev1.GitRepositoryRef{Branch: "main"}, nil, true},
		{"another branch", onMain, &sourcev1.GitRepositoryRef{Branch: "dev-team"}, nil, false},
		{"branch, detached HEAD", detached, &sourcev1.GitRepositoryRef{Branch: "main"}, nil, false},
		{"refs/heads of the branch", onMain, &sourcev1.GitRepositoryRef{Name: "refs/heads/main"}, nil, true},
		{"another reference", onMain, &sourcev1.GitRepositoryRef{Name: "refs/pull/1/head"}, nil, false},
		{"HEAD commit, upper case", detached, &sourcev1.GitRepositoryRef{Commit: "0123456789ABCDEF0123456789ABCDEF01234567"}, nil, true},
		{"another commit on the branch", onMain, &sourcev1.GitRepositoryRef{Branch: "main", Commit: other}, nil, false},
		{"tag pins a commit", onMain, &sourcev1.GitRepositoryRef{Tag: "v1.0.0"}, nil, false},
		{"semver pins a commit", onMain, &sourcev1.GitRepositoryRef{SemVer: ">=1.0.0"}, nil, false},
		{"tag wins over the checked-out branch", onMain, &sourcev1.GitRepositoryRef{Branch: "main", Tag: "v1.0.0"}, nil, false},
		{"the root source's branch", detached, &sourcev1.GitRepositoryRef{Branch: "main"}, &sourcev1.GitRepositoryRef{Branch: "main"}, true},
		{"the root source's tag", onMain, &sourcev1.GitRepositoryRef{Tag: "v2"}, &sourcev1.GitRepositoryRef{Tag: "v2"}, true},
		{"not the root source's branch", onMain, &sourcev1.GitRepositoryRef{Branch: "dev-team"}, &sourcev1.GitRepositoryRef{Branch: "main"}, false},
		{"an empty root ref adds nothing", onMain, &sourcev1.GitRepositoryRef{Branch: "dev-team"}, &sourcev1.GitRepositoryRef{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.w.ServesRef(tt.ref, tt.also); got != tt.want {
				t.Errorf("ServesRef = %v, want %v", got, tt.want)
			}
		})
	}
}
