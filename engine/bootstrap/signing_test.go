package bootstrap

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/engine/image"
	"github.com/converge-gitops/converge/engine/install"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// TestBootstrapSignedCommits signs the bootstrap commits with an OpenPGP key (Flux's --gpg-key-ring)
// and checks each pushed commit against the public key, and the message appendix.
func TestBootstrapSignedCommits(t *testing.T) {
	entity, err := openpgp.NewEntity("Fleet Bot", "", "bot@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var priv, pub bytes.Buffer
	w, _ := armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err := entity.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w, _ = armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err := entity.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := image.OpenPGPSigner(priv.Bytes(), nil, "0123456789ABCDEF"); err == nil || !strings.Contains(err.Error(), "no private key with ID") {
		t.Errorf("unknown key ID: %v", err)
	}
	signer, err := image.OpenPGPSigner(priv.Bytes(), nil, entity.PrimaryKey.KeyIdString())
	if err != nil {
		t.Fatal(err)
	}

	srv := sourcetest.StartAuthGitServer(t, "fleet-user", "s3cret")
	bare := bareRepo(t, srv.Root, "signed")
	opts := Options{
		Clock: clock.RealClock{},
		URL:   srv.URL + "/signed.git", Path: "clusters/dev",
		Install:               install.Options{Namespace: "boot-signed", Version: "v0.1.0"},
		Credentials:           Credentials{Username: "fleet-user", Password: "s3cret"},
		Author:                Author{Name: "Bot", Email: "bot@example.com"},
		CommitMessageAppendix: "[ci skip]",
		Signer:                signer,
	}
	res, err := Run(context.Background(), clients(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Commits) != 3 {
		t.Fatalf("%d commits", len(res.Commits))
	}
	repo, err := gogit.PlainOpen(bare)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Commits {
		commit, err := repo.CommitObject(plumbing.NewHash(c.Hash))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(commit.Message, "\n\n[ci skip]") {
			t.Errorf("commit %s message %q", c.Hash[:7], commit.Message)
		}
		if commit.PGPSignature == "" {
			t.Fatalf("commit %s is not signed", c.Hash[:7])
		}
		if _, err := commit.Verify(pub.String()); err != nil {
			t.Errorf("commit %s: %v", c.Hash[:7], err)
		}
	}
}
