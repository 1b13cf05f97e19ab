// Command modproxy writes a file-system module proxy that serves the
// repository's core and Temporal adapter modules from the working tree,
// at the versions of the next release (see servertest.TreeModules). The
// Makefile's tidy target resolves the Temporal modules' requirements of
// each other through it, as a user's go command will once they are
// released:
//
//	go run github.com/shepherd-go/shepherd/temporal/internal/servertest/modproxy ROOT DIR
//	GOPROXY=file://DIR,$(go env GOPROXY) GONOSUMDB=github.com/shepherd-go/shepherd go mod tidy
package main

import (
	"fmt"
	"os"

	"github.com/shepherd-go/shepherd/temporal/internal/servertest"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: modproxy ROOT DIR (ROOT: the repository; DIR: where to write the proxy)")
		os.Exit(2)
	}
	mods, err := servertest.TreeModules(os.Args[1])
	if err == nil {
		err = servertest.WriteProxy(os.Args[2], mods...)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, m := range mods {
		fmt.Printf("%s@%s\n", m.Path, m.Version)
	}
}
