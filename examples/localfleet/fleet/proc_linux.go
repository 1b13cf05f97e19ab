package fleet

import (
	"os/exec"
	"syscall"
)

// configure starts the process in its own process group, so that a signal
// reaches whatever it starts, and has the kernel kill it if the thread
// that started it dies (with its stdin pipe closing, the process also
// exits when this program ends in any way).
func configure(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func terminate(cmd *exec.Cmd) { syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }

func kill(cmd *exec.Cmd) { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
