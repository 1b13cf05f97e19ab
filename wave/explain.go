package wave

import (
	"fmt"
	"strings"
	"time"
)

// Explain prints the plan as text a person can review in a pull request:
// first its warnings, then each wave with how its stages move (one zone
// at a time in a region; in a wave of several regions, one zone of every
// region at once) and each stage in order, with its targets (listed when
// few, counted otherwise), batch sizes, minimum healthy, share of the
// fleet, bake and which bake it is (after a one-box, between zones, or
// the wave's bake on the wave's last stage), and the reason it is there;
// then the final bake, the exclusions and the notes. It works from the
// plan alone, so a stored plan explains itself too. The text is stable:
// the same plan gives the same text.
func (p *Plan) Explain() string { return p.ExplainWith(nil) }

// ExplainWith is [Plan.Explain] with a line of notes under each stage from
// note, when it returns any: what a driver adds to a stage that the plan
// does not know (the shares of traffic it ramps through, the gates it
// passes). A nil note is Explain.
func (p *Plan) ExplainWith(note func(st *Stage) string) string {
	var b strings.Builder
	total, fleetW, bakes, stages := 0, 0.0, time.Duration(0), 0
	regions := 0
	for _, wv := range p.Waves {
		regions += len(wv.Regions)
		for _, st := range wv.Stages {
			stages++
			bakes += st.Bake.Std()
			for _, bt := range st.Batches {
				total += len(bt.Targets)
				for i := range bt.Targets {
					fleetW += weightOf(&bt.Targets[i])
				}
			}
		}
	}
	lv0 := "region"
	if len(p.Levels) > 0 {
		lv0 = p.Levels[0]
	}
	fmt.Fprintf(&b, "Plan: %d %s in %d %s, %d %s, %d %s; levels %s.\n",
		total, plural(total, "target"), regions, plural(regions, lv0), len(p.Waves), plural(len(p.Waves), "wave"),
		stages, plural(stages, "stage"), strings.Join(p.Levels, " > "))
	fmt.Fprintf(&b, "Bakes add up to %s, then a final bake of %s; deploy time comes on top.\n", human(bakes), human(p.FinalBake.Std()))
	if len(p.Warnings) > 0 {
		fmt.Fprintf(&b, "\nWarnings (%d):\n", len(p.Warnings))
		for _, w := range p.Warnings {
			fmt.Fprintf(&b, "  ! %s\n", w.Message)
		}
	}

	n, doneW := 0, 0.0
	for wi, wv := range p.Waves {
		fmt.Fprintf(&b, "\nWave %d: %d %s: %s\n", wv.Index+1, len(wv.Regions), plural(len(wv.Regions), lv0), strings.Join(wv.Regions, ", "))
		fmt.Fprintf(&b, "  %s\n", p.rhythm(wi))
		for si, st := range wv.Stages {
			n++
			fmt.Fprintf(&b, "  %d. %s (%s)\n", n, st.Name, st.Kind)
			var count int
			var ids []string
			sizes := make([]int, len(st.Batches))
			for i, bt := range st.Batches {
				sizes[i] = len(bt.Targets)
				count += len(bt.Targets)
				for _, t := range bt.Targets {
					if len(ids) < 6 {
						ids = append(ids, t.ID)
					}
				}
			}
			fmt.Fprintf(&b, "     %d %s", count, plural(count, "target"))
			if count <= 5 {
				fmt.Fprintf(&b, " (%s)", strings.Join(ids, ", "))
			}
			if len(sizes) > 1 {
				fmt.Fprintf(&b, " in %d batches of %s", len(sizes), batchSizes(sizes))
			}
			if st.MinHealthy > 0 {
				fmt.Fprintf(&b, "; at least %d stay healthy", st.MinHealthy)
			}
			b.WriteByte('\n')
			doneW += st.Weight
			fmt.Fprintf(&b, "     weight %g (%s of the fleet, %s done after it); bake %s (%s)\n",
				st.Weight, pct(safeDiv(st.Weight, fleetW)), pct(safeDiv(doneW, fleetW)), human(st.Bake.Std()), p.bakeRole(wi, si))
			fmt.Fprintf(&b, "     why: %s\n", st.Reason)
			if note != nil {
				if n := note(&wv.Stages[si]); n != "" {
					for _, line := range strings.Split(strings.TrimRight(n, "\n"), "\n") {
						fmt.Fprintf(&b, "     %s\n", line)
					}
				}
			}
		}
	}
	fmt.Fprintf(&b, "\nThen a final bake of %s with the whole fleet on the change, still rolled back on alarm.\n", human(p.FinalBake.Std()))
	if len(p.Excluded) > 0 {
		fmt.Fprintf(&b, "Excluded (%d): %s\n", len(p.Excluded), listSome(p.Excluded, 10))
	} else {
		b.WriteString("Excluded: none.\n")
	}
	if len(p.Notes) > 0 {
		b.WriteString("Notes:\n")
		for _, note := range p.Notes {
			fmt.Fprintf(&b, "  - %s\n", note)
		}
	}
	return b.String()
}

// rhythm says how the stages of wave wi move, in a line.
func (p *Plan) rhythm(wi int) string {
	wv := &p.Waves[wi]
	lv0, lv1 := "region", ""
	if len(p.Levels) > 0 {
		lv0 = p.Levels[0]
	}
	next := "before the next wave"
	if wi == len(p.Waves)-1 {
		next = "before the final bake"
	}
	var how string
	switch {
	case len(p.Levels) < 2:
		how = fmt.Sprintf("Each %s deploys whole, in batches", lv0)
		if len(wv.Regions) > 1 {
			how = fmt.Sprintf("Its %ss deploy together, each whole, in batches", lv0)
		}
	case len(wv.Regions) == 1:
		lv1 = p.Levels[1]
		how = fmt.Sprintf("Its %ss deploy one at a time", lv1)
	default:
		lv1 = p.Levels[1]
		how = fmt.Sprintf("Each stage deploys one %s of every %s of the wave at once (the first %s of each, then the second...), never two %ss of one %s",
			lv1, lv0, lv1, lv1, lv0)
	}
	if len(p.Levels) < 2 {
		return fmt.Sprintf("%s; its last stage bakes with the wave's bake, %s.", how, next)
	}
	return fmt.Sprintf("%s; its last stage bakes with the wave's bake, in place of a %s bake, %s.", how, lv1, next)
}

// bakeRole says which bake stage si of wave wi has.
func (p *Plan) bakeRole(wi, si int) string {
	wv := &p.Waves[wi]
	switch {
	case si == len(wv.Stages)-1 && wi == len(p.Waves)-1:
		return "the last wave's bake, then the final bake"
	case si == len(wv.Stages)-1:
		return "the wave's bake, before the next wave"
	case wv.Stages[si].Kind == OneBox:
		return "one-box bake"
	case wv.Stages[si].Kind == Region:
		return "between stages"
	}
	return "between zones"
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// batchSizes lists batch sizes, "3, 3, 3", or summarises many.
func batchSizes(sizes []int) string {
	if len(sizes) <= 8 {
		parts := make([]string, len(sizes))
		for i, s := range sizes {
			parts[i] = fmt.Sprint(s)
		}
		return strings.Join(parts, ", ")
	}
	lo, hi := sizes[0], sizes[0]
	for _, s := range sizes {
		lo, hi = min(lo, s), max(hi, s)
	}
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d to %d", lo, hi)
}

func listSome(xs []string, n int) string {
	if len(xs) <= n {
		return strings.Join(xs, ", ")
	}
	return strings.Join(xs[:n], ", ") + fmt.Sprintf(" and %d more", len(xs)-n)
}

// human formats a duration without zero units: "12h", "1h30m", "45s",
// "none".
func human(d time.Duration) string {
	if d <= 0 {
		return "none"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Estimate is when each stage of a plan would deploy and bake, from
// [Plan.Schedule]. It ignores time windows and blockers, which the driver
// applies.
type Estimate struct {
	// Start is the given start; End is when the final bake ends.
	Start, End time.Time
	// Deploying and Baking split the total time between deploying batches
	// and baking (the final bake included), to show which wait dominates.
	Deploying, Baking time.Duration
	// Stages lists the stages in order.
	Stages []StageTimes
}

// StageTimes is when one stage would run.
type StageTimes struct {
	// Name and Wave identify the stage.
	Name string
	Wave int
	// Start is when its first batch starts, Deployed when its last batch
	// ends and the bake starts, Baked when the bake ends.
	Start, Deployed, Baked time.Time
}

// Schedule estimates when each stage would run if the rollout started at
// start, every batch took perBatch to deploy (a negative value counts as
// zero), and nothing stopped it: stages follow one another, each baking
// after its last batch, and the final bake closes the rollout.
func (p *Plan) Schedule(start time.Time, perBatch time.Duration) Estimate {
	perBatch = max(perBatch, 0)
	e := Estimate{Start: start}
	t := start
	for _, wv := range p.Waves {
		for _, st := range wv.Stages {
			dep := time.Duration(len(st.Batches)) * perBatch
			bake := max(st.Bake.Std(), 0)
			s := StageTimes{Name: st.Name, Wave: wv.Index, Start: t, Deployed: t.Add(dep), Baked: t.Add(dep + bake)}
			e.Stages = append(e.Stages, s)
			e.Deploying += dep
			e.Baking += bake
			t = s.Baked
		}
	}
	final := max(p.FinalBake.Std(), 0)
	e.Baking += final
	e.End = t.Add(final)
	return e
}
