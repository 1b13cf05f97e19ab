// Command canarybound bounds what any count test can attain on the
// evaluation's model (issue 14): for a test that sees the error and
// request counts of both sides up to minute T and fails a healthy canary
// of a null cell with probability at most alpha, the largest probability
// of failing an "errors x2" canary by minute T. It prints a Markdown table.
// The method is described in canary/internal/eval/bound.go.
//
//	GOMAXPROCS=1 go run ./canary/internal/cmd/canarybound -draws 50000 -null 100000 -alt 20000 -seed 1
//
// The bound is the power of the Neyman-Pearson test between Gaussian
// surrogates of the two cells (exact means and covariances of the counts);
// the "true model" columns apply the same statistic to counts simulated
// from the evaluation's own model, with its threshold set on simulated
// healthy canaries.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/canary/internal/eval"
)

type row struct {
	null, alt eval.Cell
	T         int
	target    float64
	only      string
	levelSD   float64
}

func main() {
	draws := flag.Int("draws", 50000, "surrogate draws from each hypothesis")
	nullRuns := flag.Int("null", 100000, "true-model healthy canaries per row (0: skip the check)")
	altRuns := flag.Int("alt", 20000, "true-model regressed canaries per row")
	phases := flag.Int("phases", 96, "points of the grid of daily phases")
	seed := flag.Uint64("seed", 1, "seed")
	pattern := flag.String("rows", "", "only rows whose description matches this regular expression")
	extra := flag.Bool("extra", true, "add the diagnostic rows (one side alone, unknown base rate)")
	flag.Parse()
	re, err := regexp.Compile(*pattern)
	if err != nil {
		fmt.Fprintln(os.Stderr, "canarybound: -rows:", err)
		os.Exit(2)
	}

	x2 := eval.Effect{Name: "errors x2", ErrorRatio: 2}
	var rows []row
	type nc struct{ od, phi float64 }
	nulls := []nc{{0.5, 0.9}, {0.5, 0.8}, {0.25, 0.9}, {0.25, 0.8}, {0.5, 0.5}, {0.25, 0.5}, {0, 0.5}}
	for _, target := range []struct {
		base   float64
		T      int
		target float64
	}{{0.01, 5, 0.5}, {0.001, 30, 0.5}, {0.001, 60, 0.9}} {
		alt := eval.Cell{Effect: x2, Sigma: 0.5, Phi: 0.5, Share: 0.1, BaseRate: target.base}
		for _, n := range nulls {
			null := eval.Cell{Sigma: 0.5, Phi: n.phi, Share: 0.1, BaseRate: target.base, Overdisp: n.od}
			rows = append(rows, row{null: null, alt: alt, T: target.T, target: target.target})
		}
		if *extra {
			for _, n := range nulls[:1] {
				null := eval.Cell{Sigma: 0.5, Phi: n.phi, Share: 0.1, BaseRate: target.base, Overdisp: n.od}
				rows = append(rows,
					row{null: null, alt: alt, T: target.T, target: target.target, only: "baseline"},
					row{null: null, alt: alt, T: target.T, target: target.target, only: "canary"},
					row{null: null, alt: alt, T: target.T, target: target.target, levelSD: 0.665})
			}
		}
	}
	alphas := []float64{0.01, 0.01 / 3}
	fmt.Println("| null cell | regression | T | sees | alpha | bound on P(fail by T) | MC se | true model | true se | target | alpha where the bound reaches the target |")
	fmt.Println("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
	t0 := time.Now()
	for i, rw := range rows {
		nm, err := eval.ModelOf(rw.null)
		if err != nil {
			fail(err)
		}
		am, err := eval.ModelOf(rw.alt)
		if err != nil {
			fail(err)
		}
		nm.LevelSD, am.LevelSD = rw.levelSD, rw.levelSD
		sees := "both sides"
		if rw.only != "" {
			sees = rw.only + " alone"
		}
		if rw.levelSD > 0 {
			sees += fmt.Sprintf(", base rate known within x%.2f (log-sd %.3f)", expf(rw.levelSD), rw.levelSD)
		}
		nullName := fmt.Sprintf("od %g%%, phi %g", 100*rw.null.Overdisp, rw.null.Phi)
		altName := fmt.Sprintf("x2, phi 0.5, err %g%%", 100*rw.alt.BaseRate)
		desc := nullName + " | " + altName + " | " + sees
		if !re.MatchString(desc) {
			continue
		}
		p := eval.Pair{Null: nm, Alt: am, T: rw.T, Phases: *phases, Only: rw.only}
		seedRow := *seed + uint64(i)*1000003
		c, err := p.Bound(*draws, seedRow)
		if err != nil {
			fail(err)
		}
		var checks []eval.Check
		if *nullRuns > 0 {
			checks, err = p.TrueCheck(alphas, *nullRuns, *altRuns, seedRow)
			if err != nil {
				fail(err)
			}
		}
		for a, alpha := range alphas {
			pw, se, _ := c.Power(alpha)
			tc, tse := "-", "-"
			if checks != nil {
				tc, tse = pct(checks[a].Power), pct(checks[a].SE)
			}
			fmt.Printf("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", nullName, altName, rw.T, sees, pct(alpha),
				pct(pw), pct(se), tc, tse, pct(rw.target), pct(c.AlphaFor(rw.target)))
		}
		fmt.Fprintf(os.Stderr, "canarybound: %s, T %d done at %s\n", strings.ReplaceAll(desc, " | ", "; "), rw.T, time.Since(t0).Round(time.Second))
	}
}

func pct(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }

func expf(v float64) float64 {
	// exp(log-sd): the typical factor of the base rate's uncertainty.
	return float64(int(100*math.Exp(v)+0.5)) / 100
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "canarybound:", err)
	os.Exit(1)
}
