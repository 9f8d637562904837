module github.com/converge-gitops/converge/hack/s3server

go 1.26.0

require github.com/versity/versitygw v1.8.0
