// Package bucket fetches Bucket sources from S3-compatible object stores (minio-go).
//
// Not here: the store and archive handling (engine/source), the Bucket's status (engine/reconcile).
package bucket
