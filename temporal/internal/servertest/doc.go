// Package servertest holds the tests of the temporal adapter
// (github.com/shepherd-go/shepherd/temporal) that need a real Temporal
// server, which go.temporal.io/server/temporaltest runs in the test
// process, and the test that a consumer resolves the released modules
// from a module proxy and builds.
//
// It is a module of its own, nested in the adapter's directory and named
// in the repository's go.work, so that the adapter's users do not inherit
// the server's dependencies: the server raises shared modules (gRPC,
// OpenTelemetry, golang.org/x/...) and brings hundreds more, which a
// program that only runs rollouts on Temporal has no use for.
//
// Run its tests from the repository (the go.work resolves the core and
// the adapter from the working tree):
//
//	go test -race github.com/shepherd-go/shepherd/temporal/...
package servertest
