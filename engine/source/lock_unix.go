//go:build unix

package source

import (
	"context"
	"errors"
	"math"
	"os"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/util/wait"
)

func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	var unlock func()
	backoff := wait.Backoff{Duration: time.Millisecond, Factor: 2, Cap: 100 * time.Millisecond, Steps: math.MaxInt32}
	err = backoff.DelayFunc().Until(ctx, true, true, func(context.Context) (bool, error) {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			unlock = func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }
			return true, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return true, err
		}
		return false, nil
	})
	if err != nil {
		f.Close()
		return nil, err
	}
	return unlock, nil
}
