// Package testenv decides what a test does when a server it needs is not
// installed: under the README's test command (make test, which exports
// SHEPHERD_INTEGRATION=required) and in CI the test fails; under a bare
// go test it skips with a message saying how to run it.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"testing"
)

// Required reports whether integration tests must run (and so fail, not
// skip, when a server's binary is missing).
func Required() bool { return os.Getenv("SHEPHERD_INTEGRATION") == "required" }

// LookPath returns the path of the named binary, trying each candidate name
// on PATH and as an absolute path. When none is found the test fails if
// integration tests are required and skips otherwise.
func LookPath(t testing.TB, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	msg := "binary " + names[0] + " not found (install Debian's package, or run make test, which installs it)"
	if Required() {
		t.Fatal(msg)
	}
	t.Skip(msg + "; skipping under a bare go test")
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
