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
		"gamma  continuous canaries checked 390 times, all OK; 14 canary verdicts: 14 pass",
		"Where the lead time went:",
		"baking (continuous canaries and alarms watched)       29h0m0s   54%",
		"waiting for the manual approval of gamma's one-box    23h0m0s   43%",
		"held by the stopped line                               2h0m0s    4%",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output does not say %q:\n%s", want, out)
		}
	}
}
