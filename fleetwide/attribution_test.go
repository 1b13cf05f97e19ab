package fleetwide_test

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/fleetwide"
)

// The attribution workload: seeded simulated incidents in which 2 to 20
// members roll out over 6 regions of 3 zones each, zone by zone, with
// confounders: unrelated regional noise, two members in the same scope
// at nearly the same time, faults whose onset is delayed by up to 90
// minutes, faults confined to one zone, members that touch no target in
// the scope, and incidents with no culprit at all; with
// -attribution.trick, two more that aim at drain tests (a fault whose harm
// outlives a drain, noise that flaps). Every minute the
// workload does what the group's step does with the shared alarms: it
// opens an incident when a zone's alarm fires, ranks the members with
// Rank, decides with Judge, pauses the suspects while it waits, blocks
// new stages in a firing zone, and stops the culprit it names.

var (
	attrSeed      = flag.Uint64("attribution.seed", 2, "seed of the attribution workload")
	attrIncidents = flag.Int("attribution.incidents", 1000, "incidents in the attribution workload")
	attrNoise     = flag.Float64("attribution.noise", 0, "HealthPolicy.Noise of the attribution workload")
	attrMargin    = flag.Float64("attribution.margin", 0, "HealthPolicy.Margin of the attribution workload")
	attrShow      = flag.Int("attribution.show", 10, "misses to log")
	attrDrain     = flag.Float64("attribution.drain", 1, "share of the members whose traffic can be drained (Member.Drain)")
	attrTrick     = flag.Bool("attribution.trick", false, "add the stress confounders of drain tests to the issue's four: faults that outlive a drain, noise that flaps")
)

type visit struct {
	region, zone string
}

type simMember struct {
	name    string
	start   time.Time
	path    []visit
	dwell   []time.Duration
	next    int
	nextAt  time.Time
	touches []fleetwide.Touch
	holds   map[int]bool // incidents (and trials) holding it
	stopped time.Time
	drain   bool // Member.Drain
}

type simAlarm struct {
	scope        fleetwide.Scope
	from, until  time.Time // firing (observed) from..until; until zero: until cleared by a rollback
	culprit      bool
	faultStarted time.Time
}

type simIncident struct {
	stopped    time.Time
	culprit    string
	cleared2   []string // members whose rollback did not clear it
	scope      fleetwide.Scope
	onset      time.Time
	cleared    bool
	decided    bool
	suspects   []fleetwide.Suspect
	drained    []string // members whose drain left it firing
	untestable []string // members whose drain test was inconclusive
}

type attrResult struct {
	incidents, withCulprit, noiseOnly int
	stops, correct, culpritsStopped   int
	ttStop                            []time.Duration
	confounders                       map[string]int
	falseBy                           map[string]int
	by                                map[string][5]int // by confounder: incidents, stops, correct stops, culprits stopped, culprits that showed
	misses                            []string
}

const (
	simRegions = 6
	simZones   = 3
	deployTime = 5 * time.Minute
	detectMin  = 3 * time.Minute // 3 of 5 one-minute points
	rollback   = 3 * time.Minute
)

func scopeOf(v visit) fleetwide.Scope {
	return fleetwide.Scope{Alarm: v.zone + "-errors", Region: v.region, Zone: v.zone}
}

func simulateIncident(rng, jit *rand.Rand, p fleetwide.HealthPolicy, res *attrResult, id int) {
	t0 := time.Date(2030, 1, 7, 0, 0, 0, 0, time.UTC)
	n := 2 + rng.IntN(19)
	ms := make([]*simMember, n)
	for i := range ms {
		m := &simMember{name: fmt.Sprintf("svc%02d", i), start: t0.Add(time.Duration(rng.IntN(240)) * time.Minute), holds: map[int]bool{}}
		regions := rng.Perm(simRegions)[:2+rng.IntN(simRegions-1)]
		for _, r := range regions {
			for z := 0; z < simZones; z++ {
				m.path = append(m.path, visit{fmt.Sprintf("r%d", r), fmt.Sprintf("r%d%c", r, 'a'+z)})
				m.dwell = append(m.dwell, time.Duration(20+rng.IntN(100))*time.Minute)
			}
		}
		m.nextAt = m.start
		m.drain = rng.Float64() < *attrDrain
		ms[i] = m
	}
	byName := map[string]*simMember{}
	for _, m := range ms {
		byName[m.name] = m
	}
	var alarms []*simAlarm
	culprit := -1
	kinds := map[string]bool{}
	var faultZone string // "" everywhere
	sticky := false
	var delay time.Duration
	if rng.Float64() < 0.9 {
		culprit = rng.IntN(n)
		c := ms[culprit]
		if rng.Float64() < 0.4 {
			delay = time.Duration(15+rng.IntN(76)) * time.Minute
			kinds["delayed onset"] = true
		} else {
			delay = time.Duration(rng.IntN(6)) * time.Minute
		}
		if rng.Float64() < 0.3 {
			faultZone = c.path[rng.IntN(min(len(c.path), 6))].zone
			kinds["fault in one zone"] = true
		}
		if rng.Float64() < 0.2 && *attrTrick {
			// Its harm outlives a drain of its traffic (a poisoned
			// cache): the alarm keeps firing until it is rolled back.
			sticky = true
			kinds["fault outlives a drain"] = true
		}
		if rng.Float64() < 0.4 {
			// Another member reaches the culprit's first region at nearly
			// the same time, and goes on its own way from there.
			o := ms[(culprit+1+rng.IntN(n-1))%n]
			o.start = c.start.Add(time.Duration(rng.IntN(31)-15) * time.Minute)
			o.nextAt = o.start
			var rest []visit
			var dwell []time.Duration
			for i, v := range o.path {
				if v.region != c.path[0].region {
					rest = append(rest, v)
					dwell = append(dwell, o.dwell[i])
				}
			}
			o.path = append(slices.Clone(c.path[:simZones]), rest...)
			o.dwell = append(slices.Clone(c.dwell[:simZones]), dwell...)
			for i := range o.dwell {
				o.dwell[i] += time.Duration(rng.IntN(21)-10) * time.Minute
			}
			kinds["two members in the same scope"] = true
		}
	}
	if culprit < 0 || rng.Float64() < 0.3 {
		// Regional noise: a zone alarms for a while, for no change's sake.
		r := rng.IntN(simRegions)
		v := visit{fmt.Sprintf("r%d", r), fmt.Sprintf("r%d%c", r, 'a'+rng.IntN(simZones))}
		from := t0.Add(time.Duration(rng.IntN(360)) * time.Minute)
		until := from.Add(time.Duration(10+rng.IntN(30)) * time.Minute)
		if rng.Float64() < 1.0/3 && *attrTrick {
			// Flapping: on and off every 2 to 8 minutes, which a drain
			// and a restore can happen to line up with.
			for on := true; from.Before(until); on = !on {
				next := from.Add(time.Duration(2+rng.IntN(7)) * time.Minute)
				if on {
					end := next
					if end.After(until) {
						end = until
					}
					alarms = append(alarms, &simAlarm{scope: scopeOf(v), from: from, until: end})
				}
				from = next
			}
			kinds["flapping noise"] = true
		} else {
			alarms = append(alarms, &simAlarm{scope: scopeOf(v), from: from, until: until})
		}
		kinds["regional noise"] = true
	}
	res.incidents++
	if culprit >= 0 {
		res.withCulprit++
	} else {
		res.noiseOnly++
	}
	for k := range kinds {
		res.confounders[k]++
	}

	var incs []*simIncident
	var watched []fleetwide.Scope
	for r := 0; r < simRegions; r++ {
		for z := 0; z < simZones; z++ {
			watched = append(watched, scopeOf(visit{fmt.Sprintf("r%d", r), fmt.Sprintf("r%d%c", r, 'a'+z)}))
		}
	}
	firing := func(sc fleetwide.Scope, now time.Time) bool {
		for _, a := range alarms {
			if a.scope == sc && !now.Before(a.from) && (a.until.IsZero() || now.Before(a.until)) {
				return true
			}
		}
		return false
	}
	var firstFault time.Time
	stops, correct := 0, 0
	trials := map[fleetwide.Scope]*fleetwide.Trial{}
	trialKey := func(sc fleetwide.Scope) int { return 1<<20 + slices.Index(watched, sc) }
	endTrial := func(sc fleetwide.Scope) {
		if t := trials[sc]; t != nil {
			delete(byName[t.Member].holds, trialKey(sc))
			delete(trials, sc)
		}
	}
	// record stops a member for an incident, and scores the stop.
	record := func(inc *simIncident, top *simMember, why string, now time.Time) {
		inc.decided = true
		inc.stopped, inc.culprit = now, top.name
		if !top.stopped.IsZero() {
			return
		}
		top.stopped = now
		res.stops++
		stops++
		if culprit >= 0 && top == ms[culprit] {
			res.correct++
			correct++
			return
		}
		key := fmt.Sprint(kinds)
		if culprit < 0 {
			key = "noise only"
		}
		res.falseBy[key]++
		cs := ""
		for _, x := range inc.suspects {
			if culprit >= 0 && x.Member == ms[culprit].name {
				cs = fmt.Sprintf("; the culprit %.0f%%: %s", 100*x.Score, x.Reason)
			}
		}
		res.misses = append(res.misses, fmt.Sprintf("incident %d %v: %v after the onset in %s, stopped %s (%s)%s", id, kinds, now.Sub(inc.onset), inc.scope, top.name, why, cs))
	}
	convict := func(inc *simIncident, m *simMember, now time.Time) {
		// As stopCulprit: hold the other suspects of the incident.
		if !inc.cleared {
			for _, x := range inc.suspects {
				if o := byName[x.Member]; x.Weight > 0 && o != m && o.stopped.IsZero() {
					o.holds[slices.Index(incs, inc)] = true
				}
			}
		}
		record(inc, m, "the alarm followed its drain, its restore and its second drain", now)
	}
	openIn := func(sc fleetwide.Scope) *simIncident {
		for i := len(incs) - 1; i >= 0; i-- {
			if incs[i].scope == sc && !incs[i].cleared {
				return incs[i]
			}
		}
		return nil
	}
	// Draining the culprit's traffic in a zone ends its fault's effect
	// there (the alarm clears a detection period later); restoring it
	// brings the fault back at once (the alarm fires again a detection
	// period later). An innocent's drain changes nothing.
	drainedAt := map[fleetwide.Scope]bool{}
	drain := func(name string, sc fleetwide.Scope, now time.Time) {
		if culprit < 0 || name != ms[culprit].name || sticky {
			return
		}
		for _, a := range alarms {
			if a.culprit && a.scope == sc && !a.faultStarted.After(now) && (a.until.IsZero() || a.until.After(now.Add(detectMin))) {
				a.until = now.Add(detectMin)
				drainedAt[sc] = true
			}
		}
	}
	restore := func(name string, sc fleetwide.Scope, now time.Time) {
		if culprit < 0 || name != ms[culprit].name || !drainedAt[sc] || !ms[culprit].stopped.IsZero() {
			return
		}
		drainedAt[sc] = false
		alarms = append(alarms, &simAlarm{scope: sc, from: now.Add(detectMin + time.Duration(jit.IntN(3))*time.Minute), culprit: true, faultStarted: now})
	}
	defer func() {
		keys := []string{"all"}
		if culprit < 0 {
			keys = append(keys, "no culprit")
		} else if len(kinds) == 0 {
			keys = append(keys, "no confounder")
		}
		for k := range kinds {
			keys = append(keys, k)
		}
		for _, k := range keys {
			c := res.by[k]
			c[0]++
			c[1] += stops
			c[2] += correct
			if showed := culprit >= 0 && !firstFault.IsZero() && firstFault.Before(t0.Add(11*time.Hour)); showed {
				c[4]++
				if !ms[culprit].stopped.IsZero() {
					c[3]++
				}
			}
			res.by[k] = c
		}
	}()
	horizon := t0.Add(14 * time.Hour)
	for now := t0; now.Before(horizon); now = now.Add(time.Minute) {
		// Members move on, unless held, stopped, or blocked by a firing
		// zone they have not reached yet.
		for i, m := range ms {
			if !m.stopped.IsZero() || m.next >= len(m.path) || now.Before(m.nextAt) {
				continue
			}
			if len(m.holds) > 0 {
				m.nextAt = now.Add(time.Minute)
				continue
			}
			v := m.path[m.next]
			if firing(scopeOf(v), now) {
				m.nextAt = now.Add(time.Minute)
				continue
			}
			at := now.Add(deployTime / 2)
			m.touches = append(m.touches, fleetwide.Touch{Region: v.region, Zone: v.zone, First: at, Last: at, Targets: 1})
			if i == culprit && (faultZone == "" || faultZone == v.zone) {
				start := at.Add(delay)
				if firstFault.IsZero() || start.Before(firstFault) {
					firstFault = start
				}
				alarms = append(alarms, &simAlarm{scope: scopeOf(v), from: start.Add(detectMin + time.Duration(jit.IntN(3))*time.Minute), culprit: true, faultStarted: start})
			}
			m.nextAt = now.Add(deployTime + m.dwell[m.next])
			m.next++
		}
		// A rolled-back culprit's faults end; those not yet started never
		// will.
		if culprit >= 0 && !ms[culprit].stopped.IsZero() {
			gone := ms[culprit].stopped.Add(rollback)
			for _, a := range alarms {
				if a.culprit && a.until.IsZero() {
					if a.faultStarted.After(gone) {
						a.until = a.from // never fires
					} else {
						end := gone
						if a.from.After(end) {
							end = a.from
						}
						a.until = end.Add(detectMin)
					}
				}
			}
		}
		// Alarms open and close incidents.
		seen := map[fleetwide.Scope]bool{}
		for _, a := range alarms {
			sc := a.scope
			if seen[sc] {
				continue
			}
			seen[sc] = true
			on := firing(sc, now)
			var open *simIncident
			for j, inc := range incs {
				if inc.scope == sc && !inc.cleared {
					open = incs[j]
				}
			}
			switch {
			case on && open == nil:
				incs = append(incs, &simIncident{scope: sc, onset: now})
			case !on && open != nil:
				open.cleared = true
				for _, m := range ms {
					for k, inc := range incs {
						if inc == open {
							delete(m.holds, k)
						}
					}
				}
			}
		}
		// Drain tests move on with the alarms, as watchTrial does: a
		// drain or a restore is done at once.
		for _, sc := range watched {
			t := trials[sc]
			if t == nil {
				continue
			}
			was := t.Phase
			t.Watch(now, firing(sc, now), p)
			switch {
			case was == fleetwide.TrialDrained && t.Phase == fleetwide.TrialRestoring:
				restore(t.Member, sc, now)
				t.Done(now, nil)
			case was == fleetwide.TrialRestored && t.Phase == fleetwide.TrialRedraining:
				drain(t.Member, sc, now)
				t.Done(now, nil)
			case t.Outcome == fleetwide.TrialCulprit:
				// As convict: the latest incident of the scope.
				for i := len(incs) - 1; i >= 0; i-- {
					if incs[i].scope == sc {
						convict(incs[i], byName[t.Member], now)
						break
					}
				}
				endTrial(sc)
			case t.Outcome == fleetwide.TrialInnocent:
				if inc := openIn(sc); inc != nil {
					inc.drained = append(inc.drained, t.Member)
				}
				restore(t.Member, sc, now)
				endTrial(sc)
			case t.Outcome == fleetwide.TrialInconclusive:
				if inc := openIn(sc); inc != nil {
					inc.untestable = append(inc.untestable, t.Member)
				}
				restore(t.Member, sc, now)
				endTrial(sc)
			case t.Outcome == fleetwide.TrialNoise:
				restore(t.Member, sc, now)
				endTrial(sc)
			}
		}
		// The group judges every open incident, as judgeIncidents does:
		// one whose culprit was rolled back while its alarm keeps firing
		// is judged again, without it.
		for k, inc := range incs {
			if inc.decided && !inc.cleared && !inc.stopped.IsZero() && now.Sub(inc.stopped) >= rollback+fleetwide.DefaultDetection+2*time.Minute {
				inc.decided = false
				inc.stopped = time.Time{}
				inc.cleared2 = append(inc.cleared2, inc.culprit)
			}
			if inc.decided || inc.cleared {
				continue
			}
			var others []fleetwide.Onset
			for _, o := range incs {
				if o.scope != inc.scope && o.onset.Sub(inc.onset).Abs() <= 3*time.Hour {
					others = append(others, fleetwide.Onset{Scope: o.scope, Time: o.onset})
				}
			}
			var cands []fleetwide.Candidate
			for _, m := range ms {
				if len(m.touches) > 0 && !slices.Contains(inc.cleared2, m.name) {
					cands = append(cands, fleetwide.Candidate{Member: m.name, Version: "v2", Touches: m.touches, Drained: slices.Contains(inc.drained, m.name)})
				}
			}
			ranked, noise := fleetwide.Rank(fleetwide.Evidence{Fired: fleetwide.Onset{Scope: inc.scope, Time: inc.onset}, Others: others, Watched: watched, Now: now}, cands, p)
			// As the group's pauseIn: every suspect but the culprit.
			hold := func(except string) {
				for _, x := range ranked {
					if m := byName[x.Member]; x.Weight > 0 && m.name != except && m.stopped.IsZero() {
						m.holds[k] = true
					}
				}
			}
			inc.suspects = ranked
			stop := func(top *simMember, why string) {
				hold(top.name)
				record(inc, top, why, now)
			}
			if trials[inc.scope] != nil {
				hold("")
				continue
			}
			verdict := fleetwide.Judge(ranked, noise, now.Sub(inc.onset), p)
			if verdict != fleetwide.VerdictNone {
				// As testable and startTrial: the likeliest suspect that
				// can be drained and has not been.
				var x *simMember
				for _, r := range ranked {
					if m := byName[r.Member]; r.Weight > 0 && m.drain && m.stopped.IsZero() && !slices.Contains(inc.drained, m.name) && !slices.Contains(inc.untestable, m.name) {
						x = m
						break
					}
				}
				if x != nil {
					t := &fleetwide.Trial{Member: x.name, Phase: fleetwide.TrialDraining, Since: now}
					trials[inc.scope] = t
					x.holds[trialKey(inc.scope)] = true
					drain(x.name, inc.scope, now)
					t.Done(now, nil)
					hold("")
					continue
				}
			}
			switch verdict {
			case fleetwide.VerdictNone:
				inc.decided = true
				hold("")
			case fleetwide.VerdictWait:
				// As holdTop: the likeliest alone is held.
				for _, m := range ms {
					delete(m.holds, k)
				}
				if m := byName[ranked[0].Member]; m.stopped.IsZero() {
					m.holds[k] = true
				}
			case fleetwide.VerdictStop:
				stop(byName[ranked[0].Member], fmt.Sprintf("%.0f%%: %s", 100*ranked[0].Score, ranked[0].Reason))
			}
		}
	}
	// A culprit whose fault showed less than three hours before the end
	// of the run (or never) makes no incident to judge.
	if culprit >= 0 {
		if showed := !firstFault.IsZero() && firstFault.Before(t0.Add(11*time.Hour)); !showed {
			res.withCulprit--
		} else if s := ms[culprit].stopped; !s.IsZero() {
			res.culpritsStopped++
			res.ttStop = append(res.ttStop, s.Sub(firstFault))
		} else {
			res.misses = append(res.misses, fmt.Sprintf("incident %d: culprit %s never stopped (%v)", id, ms[culprit].name, kinds))
		}
	}
}

func touchedScope(ts []fleetwide.Touch, s fleetwide.Scope) bool {
	for _, t := range ts {
		if t.Region == s.Region && (s.Zone == "" || t.Zone == s.Zone) {
			return true
		}
	}
	return false
}

func runAttribution(seed uint64, incidents int, p fleetwide.HealthPolicy) attrResult {
	res := attrResult{confounders: map[string]int{}, falseBy: map[string]int{}, by: map[string][5]int{}}
	for i := 0; i < incidents; i++ {
		// Each incident draws from streams of its own, so that the same
		// seed makes the same incidents whatever the policy does.
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		jit := rand.New(rand.NewPCG(seed^0x5eed, uint64(i)))
		simulateIncident(rng, jit, p, &res, i)
	}
	return res
}

// wilson is the 95% Wilson score interval of k successes in n trials.
func wilson(k, n int) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	const z = 1.959964
	p, nf := float64(k)/float64(n), float64(n)
	c := (p + z*z/(2*nf)) / (1 + z*z/nf)
	h := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / (1 + z*z/nf)
	return c - h, c + h
}

func (r attrResult) precision() float64 { return float64(r.correct) / float64(max(r.stops, 1)) }
func (r attrResult) recall() float64 {
	return float64(r.culpritsStopped) / float64(max(r.withCulprit, 1))
}
func (r attrResult) median() time.Duration {
	d := slices.Clone(r.ttStop)
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	if len(d) == 0 {
		return 0
	}
	return d[len(d)/2]
}
func (r attrResult) p90() time.Duration {
	d := slices.Clone(r.ttStop)
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	if len(d) == 0 {
		return 0
	}
	return d[len(d)*9/10]
}

// TestAttribution measures the group's culprit finding ("which member to
// stop") on the seeded workload: precision (stops that hit the culprit),
// recall (culprits stopped), and the time from a fault's start to its
// culprit being stopped.
func TestAttribution(t *testing.T) {
	n := *attrIncidents
	if testing.Short() {
		n = 200
	}
	r := runAttribution(*attrSeed, n, fleetwide.HealthPolicy{Noise: *attrNoise, Margin: *attrMargin})
	t.Logf("seed %d: %d incidents (%d with a culprit, %d noise only; confounders %v)", *attrSeed, r.incidents, r.withCulprit, r.noiseOnly, r.confounders)
	plo, phi := wilson(r.correct, r.stops)
	rlo, rhi := wilson(r.culpritsStopped, r.withCulprit)
	t.Logf("stops %d, correct %d: precision %.1f%% (95%% interval %.1f-%.1f%%); culprits stopped %d of %d: recall %.1f%% (%.1f-%.1f%%); fault to stop median %v, p90 %v",
		r.stops, r.correct, 100*r.precision(), 100*plo, 100*phi, r.culpritsStopped, r.withCulprit, 100*r.recall(), 100*rlo, 100*rhi, r.median(), r.p90())
	var keys []string
	for k := range r.by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t.Log("| incidents with | incidents | stops | precision | recall |")
	for _, k := range keys {
		c := r.by[k]
		rec := "-"
		if c[4] > 0 {
			rec = fmt.Sprintf("%.1f%%", 100*float64(c[3])/float64(c[4]))
		}
		t.Logf("| %s | %d | %d | %.1f%% | %s |", k, c[0], c[1], 100*float64(c[2])/float64(max(c[1], 1)), rec)
	}
	for i, m := range r.misses {
		if i < *attrShow {
			t.Log(m)
		}
	}
	// The acceptance figures of issue 17, on its workload (its four
	// confounders) with every member drainable: precision 95%, recall
	// 99%. The stress variant (faults that outlive a drain, flapping
	// noise) keeps the floor it has reached.
	switch {
	case *attrDrain == 1 && !*attrTrick && (r.precision() < 0.95 || r.recall() < 0.99):
		t.Errorf("precision %.1f%%, recall %.1f%%: the issue asks for at least 95%% and 99%%", 100*r.precision(), 100*r.recall())
	case *attrDrain == 1 && *attrTrick && (r.precision() < 0.93 || r.recall() < 0.99):
		t.Errorf("precision %.1f%%, recall %.1f%% with the stress confounders: want at least 93%% and 99%%", 100*r.precision(), 100*r.recall())
	}
}
