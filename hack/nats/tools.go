//go:build tools

// Package nats pins the NATS server that engine/notify's tests run as a real NATS server on loopback.
package nats

import (
	_ "github.com/nats-io/nats-server/v2"
)
