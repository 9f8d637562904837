package sourcetest

import "syscall"

// giteaProcAttr kills the Gitea server with the test process, even when the test process is killed.
func giteaProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
