//go:build tools

// Package gitea pins the Gitea server that the bootstrap tests run as a real Git host.
package gitea

import (
	_ "code.gitea.io/gitea"
)
