package main

import (
	"testing"

	"github.com/shepherd-go/shepherd/canary/internal/eval"
)

// TestPassRows: every pass row puts a canary at the judge's margin against
// a healthy canary of the same cell, by the horizon, with the issue's
// target for its persistence.
func TestPassRows(t *testing.T) {
	rows := passRows([]float64{0.001, 0.01}, true)
	if len(rows) != 10 {
		t.Fatalf("%d pass rows, want 8 cells and 2 with the base rate unknown", len(rows))
	}
	for _, rw := range rows {
		if rw.null.Effect.ErrorRatio != passMargin || !rw.alt.Effect.IsNull() {
			t.Errorf("%s against %s: want the margin against a healthy canary", rw.null.Name(), rw.alt.Name())
		}
		same := rw.null
		same.Effect = rw.alt.Effect
		if same != rw.alt {
			t.Errorf("%s against %s: the cells differ beyond the effect", rw.null.Name(), rw.alt.Name())
		}
		if rw.T != eval.Horizon || rw.only != "" {
			t.Errorf("%s: T %d, only %q: want the whole hour, both sides", rw.null.Name(), rw.T, rw.only)
		}
		want := map[float64]float64{0.5: 0.9, 0.8: 0.75}[rw.null.Phi]
		if rw.target != want {
			t.Errorf("%s: target %v, want %v", rw.null.Name(), rw.target, want)
		}
		if _, err := eval.ModelOf(rw.null); err != nil {
			t.Error(err)
		}
	}
}

// TestFailRowsKept: the fail side's rows, whose order seeds them, are
// those the published table was measured with.
func TestFailRowsKept(t *testing.T) {
	rows := failRows(true)
	if len(rows) != 33 {
		t.Fatalf("%d fail rows, want 33", len(rows))
	}
	first, last := rows[0], rows[len(rows)-1]
	if first.null.Overdisp != 0.5 || first.null.Phi != 0.9 || first.T != 5 || first.alt.BaseRate != 0.01 {
		t.Errorf("first row %+v", first)
	}
	if last.levelSD != 0.665 || last.T != 60 || last.alt.BaseRate != 0.001 || last.alt.Effect.ErrorRatio != 2 {
		t.Errorf("last row %+v", last)
	}
}

func TestParseBases(t *testing.T) {
	got, err := parseBases("0.001, 0.01")
	if err != nil || len(got) != 2 || got[0] != 0.001 || got[1] != 0.01 {
		t.Errorf("parseBases: %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "0.2", "x", "0.001,"} {
		if _, err := parseBases(bad); err == nil {
			t.Errorf("parseBases(%q): no error", bad)
		}
	}
}
