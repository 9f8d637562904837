package bucket

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/cloud"
	"github.com/converge-gitops/converge/engine/source"
)

// DefaultConcurrency is how many objects a fetch downloads at once when Fetcher.Concurrency is 0.
const DefaultConcurrency = 16

// ErrUnsafeKey is returned for an object key that would land outside the artifact folder.
var ErrUnsafeKey = errors.New("object key escapes the artifact folder")

// Fetcher fetches Bucket artifacts into a Store.
type Fetcher struct {
	Store   *source.Store
	Secrets source.Secrets
	// Transport is the base of every connection to the endpoint; each fetch clones it and applies the
	// object's TLS and proxy settings. Nil means minio-go's default transport.
	Transport *http.Transport
	// Concurrency bounds parallel object downloads (DefaultConcurrency when 0).
	Concurrency int
	// Cloud gives provider aws its credentials when no secretRef does; nil reads the process
	// environment without caching.
	Cloud *cloud.Identity
}

// Fetch lists the bucket (under spec.prefix, minus the objects matched by the bucket's root .sourceignore
// and spec.ignore), computes Flux's revision "sha256:<digest of the sorted 'key etag' lines>", and
// downloads the objects unless the stored artifact already has that revision. Failures are
// *source.FetchError with a Flux reason and the last good artifact.
func (f *Fetcher) Fetch(ctx context.Context, obj *sourcev1.Bucket) (*source.Artifact, error) {
	ref := source.Ref{Kind: sourcev1.BucketKind, Namespace: obj.Namespace, Name: obj.Name}
	ctx, cancel := context.WithTimeout(ctx, obj.GetTimeout())
	defer cancel()
	a, reason, err := f.fetch(ctx, ref, obj)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("timeout of %s exceeded: %w", obj.GetTimeout(), err)
		}
		prev, _ := f.Store.Current(ref)
		return nil, &source.FetchError{Source: ref, Reason: reason, Err: err, Previous: prev}
	}
	return a, nil
}

func (f *Fetcher) fetch(ctx context.Context, ref source.Ref, obj *sourcev1.Bucket) (*source.Artifact, string, error) {
	spec := obj.Spec
	client, reason, err := f.client(ctx, obj)
	if err != nil {
		return nil, reason, err
	}
	unlock, err := f.Store.Lock(ctx, "bucket/"+ref.String())
	if err != nil {
		return nil, sourcev1.AcquireLockFailedReason, fmt.Errorf("locking the artifact store: %w", err)
	}
	defer unlock()

	exists, err := client.BucketExists(ctx, spec.BucketName)
	if err != nil {
		return nil, operationReason(err), fmt.Errorf("confirming that bucket %q exists at %s: %w", spec.BucketName, spec.Endpoint, explain(err))
	}
	if !exists {
		return nil, sourcev1.BucketOperationFailedReason, fmt.Errorf("bucket %q not found at %s", spec.BucketName, spec.Endpoint)
	}

	dir, err := f.Store.TempDir("bucket-")
	if err != nil {
		return nil, sourcev1.DirCreationFailedReason, err
	}
	committed := false
	defer func() {
		if !committed {
			_ = os.RemoveAll(dir)
		}
	}()

	index, reason, err := f.buildIndex(ctx, client, obj, dir)
	if err != nil {
		return nil, reason, err
	}
	if cur, _ := f.Store.Current(ref); cur != nil && cur.Revision == index.revision() {
		return cur, "", nil
	}
	if err := f.download(ctx, client, spec.BucketName, index, dir); err != nil {
		return nil, operationReason(err), fmt.Errorf("fetching from bucket %q: %w", spec.BucketName, explain(err))
	}
	a, err := f.Store.Commit(ref, index.revision(), dir, nil)
	if err != nil {
		return nil, sourcev1.ArchiveOperationFailedReason, err
	}
	committed = true
	return a, "", nil
}

// etagIndex maps object keys to their ETags; Flux's revision of a Bucket is its digest.
type etagIndex struct {
	mu    sync.Mutex
	etags map[string]string
}

// revision is "sha256:" and the hex SHA-256 of one "<key> <etag>\n" line per object, sorted by key.
func (i *etagIndex) revision() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	keys := make([]string, 0, len(i.etags))
	for k := range i.etags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s %s\n", k, i.etags[k])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func (i *etagIndex) set(key, etag string) {
	i.mu.Lock()
	i.etags[key] = etag
	i.mu.Unlock()
}

func (i *etagIndex) remove(key string) {
	i.mu.Lock()
	delete(i.etags, key)
	i.mu.Unlock()
}

func (i *etagIndex) snapshot() map[string]string {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := make(map[string]string, len(i.etags))
	for k, v := range i.etags {
		out[k] = v
	}
	return out
}

// buildIndex downloads the bucket's root .sourceignore into dir (it stays in the artifact, as in Flux), and
// lists the objects under spec.prefix that are neither folder markers, the .sourceignore itself, nor
// matched by the .sourceignore and spec.ignore rules (Flux's default exclusions do not apply to Buckets).
func (f *Fetcher) buildIndex(ctx context.Context, client *minio.Client, obj *sourcev1.Bucket, dir string) (*etagIndex, string, error) {
	spec := obj.Spec
	if _, err := f.getObject(ctx, client, spec.BucketName, source.IgnoreFile, dir); err != nil && !isNotFound(err) {
		return nil, operationReason(err), fmt.Errorf("getting %s from bucket %q: %w", source.IgnoreFile, spec.BucketName, explain(err))
	}
	ignore, err := source.LoadIgnore(dir, spec.Ignore, false)
	if err != nil {
		return nil, sourcev1.ReadOperationFailedReason, fmt.Errorf("reading ignore rules: %w", err)
	}
	index := &etagIndex{etags: map[string]string{}}
	opts := minio.ListObjectsOptions{Recursive: true, Prefix: spec.Prefix, UseV1: s3utils.IsGoogleEndpoint(*client.EndpointURL())}
	for o := range client.ListObjects(ctx, spec.BucketName, opts) {
		if o.Err != nil {
			return nil, operationReason(o.Err), fmt.Errorf("listing objects of bucket %q: %w", spec.BucketName, explain(o.Err))
		}
		if strings.HasSuffix(o.Key, "/") || o.Key == source.IgnoreFile {
			continue
		}
		if ignore.Match(o.Key, false) {
			continue
		}
		if _, err := objectPath(dir, o.Key); err != nil {
			return nil, sourcev1.InvalidPathReason, fmt.Errorf("bucket %q: %w", spec.BucketName, err)
		}
		index.etags[o.Key] = o.ETag
	}
	return index, "", nil
}

// objectPath is where the object key is written under dir. Keys with a ".." element, a NUL, or that name
// dir itself are refused.
func objectPath(dir, key string) (string, error) {
	if strings.ContainsRune(key, 0) {
		return "", fmt.Errorf("%w: %q contains NUL", ErrUnsafeKey, key)
	}
	for _, elem := range strings.Split(key, "/") {
		if elem == ".." {
			return "", fmt.Errorf("%w: %q", ErrUnsafeKey, key)
		}
	}
	clean := path.Clean("/" + key)
	if clean == "/" {
		return "", fmt.Errorf("%w: %q names the artifact folder itself", ErrUnsafeKey, key)
	}
	return filepath.Join(dir, filepath.FromSlash(clean)), nil
}

// download fetches the indexed objects into dir, a bounded number at a time. As in Flux, an object that
// disappeared since the listing is dropped from the index and one that changed takes its new ETag.
func (f *Fetcher) download(ctx context.Context, client *minio.Client, bucket string, index *etagIndex, dir string) error {
	g, gctx := errgroup.WithContext(ctx)
	limit := f.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	g.SetLimit(limit)
	keys := index.snapshot()
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, key := range sorted {
		want := keys[key]
		g.Go(func() error {
			etag, err := f.getObject(gctx, client, bucket, key, dir)
			switch {
			case isNotFound(err):
				index.remove(key)
				return nil
			case err != nil:
				return fmt.Errorf("getting object %q: %w", key, err)
			case etag != want:
				index.set(key, etag)
			}
			return nil
		})
	}
	return g.Wait()
}

// getObject writes the object key under dir and returns its ETag.
func (f *Fetcher) getObject(ctx context.Context, client *minio.Client, bucket, key, dir string) (string, error) {
	target, err := objectPath(dir, key)
	if err != nil {
		return "", err
	}
	obj, err := client.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return "", err
	}
	defer obj.Close()
	info, err := obj.Stat() // the request is made here: a missing object fails now, before any file exists
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return "", err
	}
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(out, obj)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	return info.ETag, nil
}

// client builds the S3 client of obj; the returned reason is for a failure.
func (f *Fetcher) client(ctx context.Context, obj *sourcev1.Bucket) (*minio.Client, string, error) {
	spec := obj.Spec
	switch {
	case spec.STS != nil:
		return nil, sourcev1.InvalidSTSConfigurationReason, fmt.Errorf("spec.sts (%s security token service) is not supported yet", spec.STS.Provider)
	case spec.ServiceAccountName != "":
		return nil, sourcev1.InvalidProviderConfigurationReason, errors.New("spec.serviceAccountName (workload identity) is not supported yet: use spec.secretRef with accesskey and secretkey")
	}
	provider := spec.Provider
	if provider == "" {
		provider = sourcev1.BucketProviderGeneric
	}
	switch provider {
	case sourcev1.BucketProviderGeneric:
	case sourcev1.BucketProviderAmazon:
	case sourcev1.BucketProviderGoogle:
		return nil, sourcev1.InvalidProviderConfigurationReason, errors.New(`provider "gcp" is not supported yet: for Cloud Storage with HMAC keys use provider "generic" with endpoint storage.googleapis.com`)
	case sourcev1.BucketProviderAzure:
		return nil, sourcev1.InvalidProviderConfigurationReason, errors.New(`provider "azure" (Azure Blob Storage) is not supported yet`)
	default:
		return nil, sourcev1.InvalidProviderConfigurationReason, fmt.Errorf("unknown provider %q", provider)
	}

	opts := &minio.Options{Region: spec.Region, Secure: !spec.Insecure}
	if spec.SecretRef != nil {
		secret, err := f.getSecret(ctx, obj.Namespace, spec.SecretRef.Name)
		if err != nil {
			return nil, sourcev1.AuthenticationFailedReason, fmt.Errorf("getting secret %s/%s: %w", obj.Namespace, spec.SecretRef.Name, err)
		}
		for _, k := range []string{"accesskey", "secretkey"} {
			if _, ok := secret.Data[k]; !ok {
				return nil, sourcev1.AuthenticationFailedReason, fmt.Errorf("secret %s/%s has no %q key", obj.Namespace, spec.SecretRef.Name, k)
			}
		}
		if ak, sk := string(secret.Data["accesskey"]), string(secret.Data["secretkey"]); ak != "" && sk != "" {
			opts.Creds = credentials.NewStaticV4(ak, sk, "")
		}
	}
	if provider == sourcev1.BucketProviderAmazon && spec.SecretRef == nil {
		// As Flux: without a secretRef, the controller's AWS credential chain (IRSA, EKS Pod Identity, IMDS).
		c, err := f.Cloud.AWSCredentials(ctx, spec.Region)
		if err != nil {
			return nil, sourcev1.AuthenticationFailedReason, fmt.Errorf("provider \"aws\": %w", err)
		}
		opts.Creds = credentials.NewStaticV4(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
	}
	if opts.Creds == nil {
		opts.Creds = credentials.NewStatic("", "", "", credentials.SignatureAnonymous)
	}

	var base *http.Transport
	if f.Transport != nil {
		base = f.Transport
	} else {
		t, err := minio.DefaultTransport(opts.Secure)
		if err != nil {
			return nil, sourcev1.BucketOperationFailedReason, err
		}
		base = t
	}
	t := base.Clone()
	if spec.CertSecretRef != nil && spec.CertSecretRef.Name != "" {
		secret, err := f.getSecret(ctx, obj.Namespace, spec.CertSecretRef.Name)
		if err != nil {
			return nil, sourcev1.AuthenticationFailedReason, fmt.Errorf("getting TLS secret %s/%s: %w", obj.Namespace, spec.CertSecretRef.Name, err)
		}
		cfg, err := source.TLSConfigFromSecret(secret)
		if err != nil {
			return nil, sourcev1.AuthenticationFailedReason, err
		}
		if opts.Secure {
			t.TLSClientConfig = cfg
		}
	}
	if spec.ProxySecretRef != nil {
		secret, err := f.getSecret(ctx, obj.Namespace, spec.ProxySecretRef.Name)
		if err != nil {
			return nil, sourcev1.AuthenticationFailedReason, fmt.Errorf("getting proxy secret %s/%s: %w", obj.Namespace, spec.ProxySecretRef.Name, err)
		}
		u, err := source.ProxyURLFromSecret(secret)
		if err != nil {
			return nil, sourcev1.AuthenticationFailedReason, err
		}
		t.Proxy = http.ProxyURL(u)
	}
	opts.Transport = t
	client, err := minio.New(spec.Endpoint, opts)
	if err != nil {
		return nil, sourcev1.URLInvalidReason, fmt.Errorf("endpoint %q: %w", spec.Endpoint, err)
	}
	return client, "", nil
}

func isNotFound(err error) bool {
	return err != nil && minio.ToErrorResponse(err).Code == minio.NoSuchKey
}

// authCodes are the S3 error codes of rejected credentials (XAdminUserNotFound is versitygw's code for an
// unknown access key, where S3 says InvalidAccessKeyId).
var authCodes = map[string]bool{
	"AccessDenied": true, "InvalidAccessKeyId": true, "SignatureDoesNotMatch": true,
	"InvalidToken": true, "ExpiredToken": true, "AuthorizationHeaderMalformed": true,
	"XAdminUserNotFound": true,
}

func operationReason(err error) string {
	if authCodes[minio.ToErrorResponse(err).Code] {
		return sourcev1.AuthenticationFailedReason
	}
	return sourcev1.BucketOperationFailedReason
}

// explain prefixes errors of rejected credentials with "authentication failed".
func explain(err error) error {
	if operationReason(err) == sourcev1.AuthenticationFailedReason {
		return fmt.Errorf("authentication failed: %w", err)
	}
	return err
}

// getSecret reads a Secret through f.Secrets, which a fetcher without one cannot do.
func (f *Fetcher) getSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	if f.Secrets == nil {
		return nil, errors.New("no Secrets source is configured")
	}
	return f.Secrets.GetSecret(ctx, namespace, name)
}
