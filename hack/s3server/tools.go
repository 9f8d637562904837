//go:build tools

// Package s3server pins versitygw, the S3-compatible server the Bucket tests run on loopback.
package s3server

import _ "github.com/versity/versitygw/cmd/versitygw"
