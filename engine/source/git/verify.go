package git

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/verify"
)

// Flux's reasons for a failed GitRepository verification.
const (
	reasonInvalidCommitSignature  = "InvalidCommitSignature"
	reasonInvalidTagSignature     = "InvalidTagSignature"
	reasonInvalidVerificationMode = "InvalidVerificationMode"
	reasonInvalidGitObject        = "InvalidGitObject"
)

// verificationError is a failed spec.verify: the fetch yields no artifact and the source reports
// SourceVerified=False with the reason.
type verificationError struct {
	reason string
	err    error
}

func (e *verificationError) Error() string { return e.err.Error() }
func (e *verificationError) Unwrap() error { return e.err }

// verifyFailure returns a FetchError-ready reason and whether err is a verification failure.
func verifyFailure(err error) (string, bool) {
	var ve *verificationError
	if errors.As(err, &ve) {
		return ve.reason, true
	}
	return "", false
}

// gitKeys reads the trusted keys of obj's spec.verify.secretRef.
func (f *Fetcher) gitKeys(ctx context.Context, obj *sourcev1.GitRepository) (*verify.GitKeys, error) {
	name := obj.Spec.Verification.SecretRef.Name
	if name == "" {
		return nil, &verificationError{sourcev1.VerificationError, errors.New("spec.verify.secretRef.name is empty")}
	}
	if f.Secrets == nil {
		return nil, &verificationError{sourcev1.VerificationError, errors.New("spec.verify.secretRef: no Secrets can be read here")}
	}
	s, err := f.Secrets.GetSecret(ctx, obj.Namespace, name)
	if err != nil {
		return nil, &verificationError{sourcev1.VerificationError, fmt.Errorf("public keys secret error: %w", err)}
	}
	keys, err := verify.GitKeysFromSecret(s)
	if err != nil {
		return nil, &verificationError{sourcev1.VerificationError, fmt.Errorf("spec.verify.secretRef: %w", err)}
	}
	return keys, nil
}

// tagRef returns the tag reference spec.ref checks out, "" when it is not a tag.
func tagRef(ref sourcev1.GitRepositoryRef, t *target) string {
	switch {
	case ref.Commit != "":
		return ""
	case ref.Name != "":
		if strings.HasPrefix(ref.Name, tagPrefix) {
			return ref.Name
		}
		return ""
	case ref.SemVer != "", ref.Tag != "":
		return tagPrefix + t.name
	}
	return ""
}

// verifyTarget checks the signatures spec.verify's mode asks for: the annotated tag t was resolved
// through and/or the commit, read from st. tagObj is the object the tag reference points to (zero when
// spec.ref is not a tag). It returns the message of the SourceVerified condition.
func verifyTarget(st storer.EncodedObjectStorer, v *sourcev1.GitRepositoryVerification, keys *verify.GitKeys, tagName string, tagObj, commit plumbing.Hash) (string, error) {
	var msg strings.Builder
	msg.WriteString("verified signature of")
	if v.VerifyTag() {
		if tagName == "" {
			return "", &verificationError{reasonInvalidVerificationMode,
				fmt.Errorf("spec.verify.mode %s: cannot verify a tag's signature: spec.ref does not name a tag", v.GetMode())}
		}
		short := strings.TrimPrefix(tagName, tagPrefix)
		tag, err := object.GetTag(st, tagObj)
		if errors.Is(err, plumbing.ErrObjectNotFound) || errors.Is(err, plumbing.ErrInvalidType) {
			return "", &verificationError{reasonInvalidGitObject,
				fmt.Errorf("cannot verify signature of tag '%s' since it is not signed (a lightweight tag)", short)}
		}
		if err != nil {
			return "", fmt.Errorf("%w: reading tag %s: %v", errCorruptCache, short, err)
		}
		if tag.PGPSignature == "" {
			return "", &verificationError{reasonInvalidGitObject, fmt.Errorf("cannot verify signature of tag '%s' since it is not signed", short)}
		}
		payload := &plumbing.MemoryObject{}
		if err := tag.EncodeWithoutSignature(payload); err != nil {
			return "", fmt.Errorf("encoding tag %s: %w", short, err)
		}
		signer, err := keys.VerifyGit(tag.PGPSignature, memoryBytes(payload))
		if err != nil {
			return "", &verificationError{reasonInvalidTagSignature,
				fmt.Errorf("signature verification of tag '%s@%s' failed: %w", short, tag.Hash, err)}
		}
		fmt.Fprintf(&msg, "\n\t- tag '%s@%s' with key '%s'", short, tag.Hash, signer)
	}
	if v.VerifyHEAD() {
		c, err := object.GetCommit(st, commit)
		if err != nil {
			return "", fmt.Errorf("%w: reading commit %s: %v", errCorruptCache, commit, err)
		}
		payload := &plumbing.MemoryObject{}
		if err := c.EncodeWithoutSignature(payload); err != nil {
			return "", fmt.Errorf("encoding commit %s: %w", commit, err)
		}
		signer, err := keys.VerifyGit(c.PGPSignature, memoryBytes(payload))
		if err != nil {
			return "", &verificationError{reasonInvalidCommitSignature,
				fmt.Errorf("signature verification of commit '%s' failed: %w", commit, err)}
		}
		fmt.Fprintf(&msg, "\n\t- commit '%s' with key '%s'", commit, signer)
	}
	return msg.String(), nil
}

func memoryBytes(o *plumbing.MemoryObject) []byte {
	r, err := o.Reader()
	if err != nil {
		return nil
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return b
}

// verify checks what spec.verify asks of t, read from st; "" without spec.verify.
func (op *fetchOp) verify(st storer.EncodedObjectStorer, t *target) (string, error) {
	if op.keys == nil {
		return "", nil
	}
	name := tagRef(op.obj.GetReference(), t)
	var tagObj plumbing.Hash
	if name != "" {
		tagObj = t.fetch[name]
	}
	return verifyTarget(st, op.obj.Spec.Verification, op.keys, name, tagObj, t.commit)
}

// canVerify reports whether st already holds what verifying t needs (always true without spec.verify).
func (op *fetchOp) canVerify(st *filesystem.Storage, t *target) bool {
	if op.keys == nil {
		return true
	}
	if name := tagRef(op.obj.GetReference(), t); name != "" && !hasObject(st, t.fetch[name]) {
		return false
	}
	return hasObject(st, t.commit)
}

// verified verifies t and returns art carrying the verification message.
func (op *fetchOp) verified(st storer.EncodedObjectStorer, t *target, art *source.Artifact) (*source.Artifact, error) {
	msg, err := op.verify(st, t)
	if err != nil {
		return nil, err
	}
	return withVerified(art, msg), nil
}

// withVerified returns a copy of art carrying msg, the message of its SourceVerified condition.
func withVerified(art *source.Artifact, msg string) *source.Artifact {
	if msg == "" {
		return art
	}
	c := *art
	c.Verified = msg
	return &c
}
