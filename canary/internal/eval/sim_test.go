package eval

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/shepherd-go/shepherd/canary"
)

// TestEvaluateSmall is a small-count run of the evaluation: deterministic
// whatever the number of workers, no false fail of the sequential judge in
// a correlated null cell, and a large error regression caught fast.
func TestEvaluateSmall(t *testing.T) {
	cells := []Cell{
		{Sigma: 0.5, Phi: 0.8, Share: 0.1, BaseRate: -1, Runs: 150},
		{Effect: Effect{Name: "errors x5", ErrorRatio: 5}, Sigma: 0.5, Phi: 0.5, Share: 0.1, BaseRate: 0.01, Runs: 50},
	}
	a := Evaluate(cells, 7, 1)
	b := Evaluate(cells, 7, 3)
	for i := range a {
		for _, s := range [][]int{a[i].Sequential.TTD, a[i].Kayenta.TTD, b[i].Sequential.TTD, b[i].Kayenta.TTD} {
			slices.Sort(s)
		}
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("results depend on the number of workers (-1 +3):\n%s", diff)
	}
	null, effect := a[0], a[1]
	if f := null.Sequential.Fail; f > 1 {
		t.Errorf("sequential judge failed %d of %d healthy canaries", f, null.Sequential.Runs)
	}
	if effect.Sequential.Fail != effect.Sequential.Runs || effect.Sequential.Median() > 20 {
		t.Errorf("errors x5: detected %d of %d, median %v min", effect.Sequential.Fail, effect.Sequential.Runs, effect.Sequential.Median())
	}
	table := Table(a)
	for _, want := range []string{"| scenario | judge | runs |", "| none; sigma 0.5, phi 0.8, share 10%, err 0.1-1% | sequential | 150 |", "| errors x5;"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	v := lastVerdict(cells[1], 3)
	if v.Decision != canary.Fail || !strings.Contains(v.Reason, "errors") {
		t.Errorf("verdict %v: %s", v.Decision, v.Reason)
	}
}

func TestCells(t *testing.T) {
	cells := Cells(10000, 1000)
	nulls, effects := 0, 0
	for _, c := range cells {
		if c.Effect.IsNull() {
			nulls++
			if c.Runs < 10000 {
				t.Errorf("null cell %s has %d runs", c.Name(), c.Runs)
			}
			if false {
				t.Errorf("null cell %s has %d runs", c.Name(), c.Runs)
			}
		} else {
			effects++
		}
		seq, kay := Policies(c)
		if err := seq.Validate(); err != nil {
			t.Errorf("%s: %v", c.Name(), err)
		}
		if err := kay.Validate(); err != nil {
			t.Errorf("%s: %v", c.Name(), err)
		}
	}
	if nulls != 45 || effects != 83 {
		t.Errorf("%d null and %d effect cells", nulls, effects)
	}
}

func ExampleCell_Name() {
	c := Cell{Effect: Effect{Name: "errors x2", ErrorRatio: 2}, Sigma: 0.5, Phi: 0.8, Share: 0.1, BaseRate: 0.001}
	fmt.Println(c.Name())
	// Output: errors x2; sigma 0.5, phi 0.8, share 10%, err 0.1%
}
