package helmrelease

import (
	"crypto/sha256"
	"encoding/hex"
)

// maxReleaseNameLength is Helm's limit on release names.
const maxReleaseNameLength = 53

// ShortenName returns name when it fits Helm's 53 characters, else Flux's short form: its first 40
// characters, a dash, and the first 12 hex characters of its SHA-256.
func ShortenName(name string) string {
	if len(name) <= maxReleaseNameLength {
		return name
	}
	const hashLength = 12
	sum := sha256.Sum256([]byte(name))
	return name[:maxReleaseNameLength-hashLength-1] + "-" + hex.EncodeToString(sum[:])[:hashLength]
}
