// Command canarybound bounds what any count test can attain on the
// evaluation's model (issue 14): for a test that sees the error and
// request counts of both sides up to minute T and fails a healthy canary
// of a null cell with probability at most alpha, the largest probability
// of failing an "errors x2" canary by minute T. It prints a Markdown table.
// The method is described in canary/internal/eval/bound.go.
//
//	GOMAXPROCS=1 go run ./canary/internal/cmd/canarybound -draws 50000 -null 40000 -alt 10000 -others 2000 -seed 1
//
// With -side pass it bounds the pass instead: for a test that passes a
// canary whose error rate is 1.5 times the baseline's (the judge's margin)
// with probability at most alpha, the largest probability of passing a
// healthy canary of the same cell by minute 60. Passing by minute 60 is an
// event of the first 60 minutes' counts, so the fixed-horizon bound holds
// for a sequential judge as it is, with no allowance for earlier looks.
//
//	GOMAXPROCS=1 go run ./canary/internal/cmd/canarybound -side pass -draws 50000 -null 40000 -alt 10000 -others 2000 -seed 1
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
	"os"
	"regexp"
	"strconv"
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

// levelSD is the log-sd of a base rate drawn log-uniformly over a decade
// (0.1% to 1%, as the evaluation draws it): ln(10)/sqrt(12).
const levelSD = 0.665

// failRows returns the fail side's rows: each hard null cell against an
// "errors x2" canary at the targets; extra adds the diagnostic
// rows (one side alone, base rate unknown).
func failRows(extra bool) []row {
	x2 := eval.Effect{Name: "errors x2", ErrorRatio: 2}
	var rows []row
	type nc struct{ od, phi float64 }
	nulls := []nc{{0.5, 0.9}, {0.5, 0.8}, {0.25, 0.9}, {0.25, 0.8}, {0.5, 0.5}, {0.25, 0.5}, {0.5, 0}, {0, 0.5}}
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
		if extra {
			for _, n := range nulls[:1] {
				null := eval.Cell{Sigma: 0.5, Phi: n.phi, Share: 0.1, BaseRate: target.base, Overdisp: n.od}
				rows = append(rows,
					row{null: null, alt: alt, T: target.T, target: target.target, only: "baseline"},
					row{null: null, alt: alt, T: target.T, target: target.target, only: "canary"},
					row{null: null, alt: alt, T: target.T, target: target.target, levelSD: levelSD})
			}
		}
	}
	return rows
}

// passMargin is the judge's margin for a count metric: it passes a canary
// by ruling out an error rate 1.5 times the baseline's.
const passMargin = 1.5

// passRows returns the pass side's rows: in each overdispersed cell of the
// issue's pass targets (share 10%, phi 0.5 and 0.8, overdispersion 25% and
// 50%) at each fixed base rate of bases, a canary at the margin (the
// null) against a healthy canary of the same cell (the alternative), by
// minute 60. The targets are the issue's: 90% at phi 0.5, 75% at phi 0.8.
// extra adds the hardest cell with the base rate unknown to the test.
func passRows(bases []float64, extra bool) []row {
	margin := eval.Effect{Name: "errors x1.5", ErrorRatio: passMargin}
	var rows []row
	for _, base := range bases {
		for _, c := range []struct{ od, phi, target float64 }{{0.5, 0.8, 0.75}, {0.5, 0.5, 0.9}, {0.25, 0.8, 0.75}, {0.25, 0.5, 0.9}} {
			healthy := eval.Cell{Sigma: 0.5, Phi: c.phi, Share: 0.1, BaseRate: base, Overdisp: c.od}
			null := healthy
			null.Effect = margin
			rows = append(rows, row{null: null, alt: healthy, T: eval.Horizon, target: c.target})
			if extra && c.od == 0.5 && c.phi == 0.8 {
				rows = append(rows, row{null: null, alt: healthy, T: eval.Horizon, target: c.target, levelSD: levelSD})
			}
		}
	}
	return rows
}

func main() {
	draws := flag.Int("draws", 50000, "surrogate draws from each hypothesis")
	nullRuns := flag.Int("null", 100000, "true-model null canaries per row (healthy for -side fail, at the margin for pass; 0: skip the check)")
	altRuns := flag.Int("alt", 20000, "true-model alternative canaries per row (regressed for -side fail, healthy for pass)")
	phases := flag.Int("phases", 96, "points of the grid of daily phases")
	seed := flag.Uint64("seed", 1, "seed")
	pattern := flag.String("rows", "", "only rows whose description matches this regular expression")
	extra := flag.Bool("extra", true, "add the diagnostic rows (fail: one side alone, unknown base rate; pass: unknown base rate)")
	otherRuns := flag.Int("others", 5000, "true-model null canaries of each other cell, for the test built against a row's null (0: skip)")
	baseList := flag.String("bases", "0.001,0.01", "fixed base rates of the pass side's rows, comma-separated")
	sideName := flag.String("side", "fail", `what to bound: "fail" (a regression's fails, healthy canaries failed at most alpha) or "pass" (a healthy canary's passes, canaries at the margin passed at most alpha)`)
	flag.Parse()
	re, err := regexp.Compile(*pattern)
	if err != nil {
		fmt.Fprintln(os.Stderr, "canarybound: -rows:", err)
		os.Exit(2)
	}

	var rows []row
	var alphas []float64
	pass := false
	switch *sideName {
	case "fail":
		rows, alphas = failRows(*extra), []float64{0.01, 0.01 / 3}
		fmt.Println("| null cell | regression | T | sees | alpha | bound, counts surrogate (se) | its statistic on the true model (se) | bound, roots surrogate (se) | its statistic on the true model (se) | worst other null cell for that test | target | alpha where the roots bound reaches the target |")
	case "pass":
		// PassAlpha of the judge's count metric.
		bases, err := parseBases(*baseList)
		if err != nil {
			fmt.Fprintln(os.Stderr, "canarybound:", err)
			os.Exit(2)
		}
		rows, alphas, pass = passRows(bases, *extra), []float64{0.05}, true
		fmt.Println("| null: canary at the margin | alternative | T | sees | alpha | bound on P(pass), counts surrogate (se) | its statistic on the true model (se) | bound on P(pass), roots surrogate (se) | its statistic on the true model (se) | worst other margin cell for that test (canaries at the margin passed) | target | alpha where the roots bound reaches the target |")
	default:
		fmt.Fprintf(os.Stderr, "canarybound: -side %q: want \"fail\" or \"pass\"\n", *sideName)
		os.Exit(2)
	}
	fmt.Println("|---|---|---:|---|---:|---:|---:|---:|---:|---|---:|---:|")
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
			sees += fmt.Sprintf(", base rate unknown (log-sd %.3f)", rw.levelSD)
		}
		nullName := fmt.Sprintf("od %g%%, phi %g", 100*rw.null.Overdisp, rw.null.Phi)
		altName := fmt.Sprintf("x2, phi 0.5, err %g%%", 100*rw.alt.BaseRate)
		if pass {
			nullName = fmt.Sprintf("x%g, od %g%%, phi %g, err %g%%", rw.null.Effect.ErrorRatio, 100*rw.null.Overdisp, rw.null.Phi, 100*rw.null.BaseRate)
			altName = "healthy, same cell"
		}
		desc := nullName + " | " + altName + " | " + sees
		if !re.MatchString(desc) {
			continue
		}
		// The null cells at this base rate (for the pass, the same
		// cells at the margin), to see whether a test built against one
		// holds its level in the others.
		var others []eval.CountModel
		var otherNames []string
		if rw.only == "" && rw.levelSD == 0 && *otherRuns > 0 {
			for _, od := range []float64{0, 0.1, 0.25, 0.5} {
				for _, phi := range []float64{0, 0.5, 0.8, 0.9} {
					m := nm
					m.Overdisp, m.Phi = od, phi
					others = append(others, m)
					otherNames = append(otherNames, fmt.Sprintf("od %g%%, phi %g", 100*od, phi))
				}
			}
		}
		seedRow := *seed + uint64(i)*1000003
		type res struct {
			c      *eval.Curve
			checks []eval.Check
		}
		var rs [2]res
		for k, sq := range []bool{false, true} {
			p := eval.Pair{Null: nm, Alt: am, T: rw.T, Phases: *phases, Only: rw.only, Sqrt: sq}
			rs[k].c, err = p.Bound(*draws, seedRow)
			if err != nil {
				fail(err)
			}
			if *nullRuns > 0 {
				var o []eval.CountModel
				if sq {
					o = others
				}
				rs[k].checks, err = p.TrueCheck(alphas, *nullRuns, *altRuns, o, *otherRuns, seedRow)
				if err != nil {
					fail(err)
				}
			}
		}
		for a, alpha := range alphas {
			cols := []string{nullName, altName, fmt.Sprint(rw.T), sees, pct(alpha)}
			for k := range rs {
				pw, se, _ := rs[k].c.Power(alpha)
				cols = append(cols, fmt.Sprintf("%s (%s)", pct(pw), pct(se)))
				if rs[k].checks != nil {
					ch := rs[k].checks[a]
					cols = append(cols, fmt.Sprintf("%s (%s)", pct(ch.Power), pct(ch.SE)))
				} else {
					cols = append(cols, "-")
				}
			}
			worst := "-"
			if rs[1].checks != nil && len(others) > 0 {
				w := 0
				for o, f := range rs[1].checks[a].Others {
					if f > rs[1].checks[a].Others[w] {
						w = o
					}
				}
				f := rs[1].checks[a].Others[w]
				worst = fmt.Sprintf("%s: %s of %d", otherNames[w], pct(f), *otherRuns)
			}
			cols = append(cols, worst, pct(rw.target), pct(rs[1].c.AlphaFor(rw.target)))
			fmt.Println("| " + strings.Join(cols, " | ") + " |")
		}
		fmt.Fprintf(os.Stderr, "canarybound: %s, T %d done at %s\n", strings.ReplaceAll(desc, " | ", "; "), rw.T, time.Since(t0).Round(time.Second))
	}
}

// parseBases reads -bases: rates in (0, 0.1), as the count model takes them.
func parseBases(list string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(list, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(v > 0 && v < 0.1) {
			return nil, fmt.Errorf("-bases: %q: want base rates in (0, 0.1), comma-separated", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func pct(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "canarybound:", err)
	os.Exit(1)
}
