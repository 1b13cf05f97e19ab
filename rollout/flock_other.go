//go:build !unix

package rollout

import (
	"errors"
	"io"
	"os"
)

var (
	errWouldBlock = errors.New("would block")
	errEOF        = io.EOF
)

// Without flock the file store cannot guarantee a single driver, so it
// refuses to take leases rather than pretend.
func lockFile(*os.File) error {
	return errors.New("file locks are not supported on this platform; use another Store")
}

func unlockFile(*os.File) error { return nil }
