package git

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
)

// reasonError carries the Flux condition reason of a failure.
type reasonError struct {
	reason string
	err    error
}

func (e *reasonError) Error() string { return e.err.Error() }
func (e *reasonError) Unwrap() error { return e.err }

func withReason(reason string, err error) error {
	if err == nil {
		return nil
	}
	return &reasonError{reason: reason, err: err}
}

// reasonOf picks the Flux condition reason for err.
func reasonOf(err error) string {
	var re *reasonError
	if errors.As(err, &re) {
		return re.reason
	}
	if isAuthFailure(err) {
		return sourcev1.AuthenticationFailedReason
	}
	return sourcev1.GitOperationFailedReason
}

func isAuthFailure(err error) bool {
	var ae *authError
	var hk *hostKeyError
	switch {
	case errors.As(err, &ae), errors.As(err, &hk),
		errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return true
	}
	return strings.Contains(err.Error(), "ssh: unable to authenticate")
}

// tidyError drops the trailing newlines servers leave in their messages.
type tidyError struct{ err error }

func (e tidyError) Error() string { return strings.TrimSpace(e.err.Error()) }
func (e tidyError) Unwrap() error { return e.err }

// remoteError describes a failure to talk to u in words that say what to fix.
func remoteError(u *url.URL, err error) error {
	where := redactURL(u)
	err = tidyError{err}
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return err
	case isAuthFailure(err):
		var hk *hostKeyError
		if errors.As(err, &hk) {
			return fmt.Errorf("%s: %w", where, err)
		}
		return fmt.Errorf("authentication failed for %s: %w", where, err)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("repository not found at %s: %w", where, err)
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return fmt.Errorf("repository %s is empty: %w", where, err)
	case errors.As(err, &dnsErr), errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Errorf("cannot reach %s: %w", where, err)
	}
	return fmt.Errorf("fetching %s: %w", where, err)
}
