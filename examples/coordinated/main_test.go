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
		"culprit          api     ap-south-1a-5xx rose in ap-south-1a 4m0s after api v7 reached it",
		"member-paused    schema  held by the group: alarm ap-south-1a-5xx",
		"member-paused    web     held by the group: alarm ap-south-1a-5xx",
		"+13h6m0s cleared",
		"member-resumed   schema",
		"member-resumed   web",
		"schema  succeeded  targets: 18 on v2",
		"api     rolled-back targets: 18 on v1",
		"web     succeeded  targets: 18 on v3",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output does not say %q:\n%s", want, out)
		}
	}
}
