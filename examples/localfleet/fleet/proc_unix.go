//go:build unix && !linux

package fleet

import (
	"os/exec"
	"syscall"
)

// configure starts the process in its own process group, so that a signal
// reaches whatever it starts (its stdin pipe closing makes it exit when
// this program ends in any way).
func configure(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func terminate(cmd *exec.Cmd) { syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }

func kill(cmd *exec.Cmd) { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
