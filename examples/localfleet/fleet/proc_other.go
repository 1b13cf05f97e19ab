//go:build !unix

package fleet

import "os/exec"

// configure does nothing where there are no process groups; the stdin pipe
// closing makes the process exit when this program ends.
func configure(cmd *exec.Cmd) {}

func terminate(cmd *exec.Cmd) { cmd.Process.Kill() }

func kill(cmd *exec.Cmd) { cmd.Process.Kill() }
