package testenv

import (
	"os/exec"
	"syscall"
)

// setProcAttrs makes the child die with the process that started it, so a crashed test leaves nothing behind.
func setProcAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
