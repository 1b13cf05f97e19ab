//go:build unix

package rollout

import (
	"errors"
	"io"
	"os"
	"syscall"
)

var (
	errWouldBlock = syscall.EWOULDBLOCK
	errEOF        = io.EOF
)

func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		return err
	}
}

func unlockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
