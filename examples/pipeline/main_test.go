package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var b bytes.Buffer
	if err := run(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"alpha  verify w1/alpha/alphaa: pass",
		"beta   member-paused held by the group: line",
		"gamma  awaiting-approval w1/one-box/gamma-eu-west-1",
		"Tue 16:00  prod   member-started v42",
		"done succeeded",
		"Lead time 54h0m0s",
		"gamma      = succeeded",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output does not say %q:\n%s", want, out)
		}
	}
}
