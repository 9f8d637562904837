//go:build !linux

package sourcetest

import "syscall"

func giteaProcAttr() *syscall.SysProcAttr { return nil }
