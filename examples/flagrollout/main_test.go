package main

import (
	"strings"
	"testing"
)

// TestOutput keeps the program's output, which the README quotes, exact:
// the good value reaches 100% and bakes; the bad one is caught at 10% and
// sent back to 0%.
func TestOutput(t *testing.T) {
	var b strings.Builder
	if err := run(&b); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != want {
		t.Errorf("output changed:\n%s\nwant:\n%s", got, want)
	}
}

const want = `steps: hold 4m0s > weight 10% > hold 4m0s > weight 20% > hold 4m0s > weight 40% > hold 4m0s > weight 80% > hold 4m0s > weight 100% > bake 10m0s

v2 (timeout=3s): succeeded
  +4m0s     10%  user-7 sees timeout=3s
  +8m0s     20%  user-7 sees timeout=3s
  +12m0s    40%  user-7 sees timeout=3s
  +16m0s    80%  user-7 sees timeout=3s
  +20m0s   100%  user-7 sees timeout=3s
  blast radius: peak 100% of requests, exposed 26m0s, as much as 16m0s of all requests

v3 (timeout=50ms): rolled-back
  +4m0s     10%  user-7 sees timeout=50ms
  +5m0s   alarm: checkout errors: ALARM (1.52% of requests failed)
  +5m0s      0%  user-7 sees timeout=2s
  blast radius: peak 10% of requests, exposed 1m0s, as much as 6s of all requests

`
