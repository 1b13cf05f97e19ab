// Package eval compares the sequential judge with the Kayenta-parity judge on
// the same synthetic canaries: a seeded simulation of a small fleet with
// log-normal latency, serially correlated host noise, daily traffic swings
// and error counts, under no change and under a list of regressions.
//
// The model, per run (one canary of 60 one-minute intervals):
//
//   - 20 hosts; the canary runs on max(1, round(20 x share)) of them and
//     receives the traffic share; the baseline is the rest of the fleet.
//   - Traffic: 10,000 requests a minute on average, swinging +-50% over a
//     day (a random phase per run); each host's requests in a minute are
//     Poisson.
//   - Latency of a request on host h in minute t: log-normal with median
//     100 ms x exp(a_h + e_h,t + g_t) and log-sd sigma, where a_h is a
//     persistent host offset (sd 1%), e_h,t an AR(1) host level with
//     coefficient phi and stationary sd 5%, and g_t the common effect of
//     load (10% per unit of relative traffic).
//   - Errors: Poisson with the base rate x exp(b_h + f_h,t + c_t): a
//     persistent host factor (sd 5%), an AR(1) host factor (sd 10%, same
//     phi) and a common AR(1) factor (sd 30%, a flaky dependency).
//   - Each interval, each side reports its mean latency, a histogram of its
//     request latencies (5% buckets over the tail, one bucket below) from
//     which the minute's p99 is read, its errors and its requests.
//
// Simplifications, applied to both judges alike: a side's mean latency in a
// minute is drawn from the normal approximation of the mean of its
// requests; its histogram treats the side's hosts in that minute as one
// log-normal with their traffic-weighted level (the spread of host levels,
// 5%, is small beside sigma); large Poisson counts use the normal
// approximation.
//
// The Kayenta-parity judge sees the per-minute points of three metrics
// (mean latency, p99 latency, error rate; direction increase) and judges
// cumulative windows at 20, 40 and 60 minutes (interval analysis). The
// sequential judge sees the same minutes as a Mean metric, a Quantile
// metric (p99 from the histograms) and a Count metric, and decides after
// every minute.
package eval

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shepherd-go/shepherd/canary"
	"github.com/shepherd-go/shepherd/duration"
)

// Simulation constants (see the package documentation).
const (
	Hosts          = 20
	Horizon        = 60 // minutes
	RequestsPerMin = 10000
	medianMS       = 100.0
	hostOffsetSD   = 0.01
	hostARSD       = 0.05
	loadEffect     = 0.10
	dailySwing     = 0.5
	errHostSD      = 0.05
	errHostARSD    = 0.10
	errCommonARSD  = 0.30
	kayentaEvery   = 20 // minutes per Kayenta interval
	commonLatSD    = 0.10
)

// Effect is what the canary does differently. The zero value is no change.
type Effect struct {
	// Name labels the effect in the table.
	Name string
	// LatencyShift multiplies every canary request's latency by 1 +
	// LatencyShift.
	LatencyShift float64
	// TailSigma is added to the canary's log-sd: the median is unchanged
	// and the tail grows (log(1.2)/2.326 raises the p99 by 20%).
	TailSigma float64
	// VarianceX multiplies the variance of the canary's latency, keeping
	// its mean.
	VarianceX float64
	// ErrorRatio multiplies the canary's error rate.
	ErrorRatio float64
	// Leak is a latency shift that grows linearly from 0 to Leak at the
	// horizon (a slow leak).
	Leak float64
	// SparseRate is the canary's error rate in the sparse scenario, whose
	// baseline has no errors at all.
	SparseRate float64
}

// IsNull reports whether the effect is no change.
func (e Effect) IsNull() bool {
	return e.LatencyShift == 0 && e.TailSigma == 0 && e.VarianceX == 0 && e.ErrorRatio == 0 && e.Leak == 0 && e.SparseRate == 0
}

// Cell is one scenario: an effect under one set of conditions.
type Cell struct {
	// Effect is what the canary does differently.
	Effect Effect
	// Sigma is the log-sd of request latency.
	Sigma float64
	// Phi is the AR(1) coefficient of the host noise.
	Phi float64
	// Share is the canary's traffic share.
	Share float64
	// BaseRate is the baseline error rate; negative draws it per run,
	// log-uniformly between 0.1% and 1%; zero is the sparse scenario
	// (no baseline errors).
	BaseRate float64
	// Runs is the number of simulated canaries.
	Runs int
	// Overdisp is per-interval noise on each side's error rate: a
	// log-normal factor with this log-sd (0.25: the rate varies about 25%
	// from minute to minute), AR(1) with coefficient Phi, independent on
	// the two sides, so that it does not cancel.
	Overdisp float64
	// Common adds noise common to both sides: an AR(1) latency level (sd
	// 10%) on every host, on top of the load effect (error counts already
	// share a common factor). The concurrent comparison cancels it.
	Common bool
	// Traffic is the fraction of its expected requests the canary gets:
	// 0 means all of them; Starved below 1 gives it Traffic of them, and
	// NoTraffic none at all (a broken canary that the load balancer
	// skips).
	Traffic float64
	// NoTraffic: see Traffic.
	NoTraffic bool
	// MeanOnly judges the mean latency metric alone.
	MeanOnly bool
}

func (c Cell) trafficX() float64 {
	switch {
	case c.NoTraffic:
		return 0
	case c.Traffic > 0:
		return c.Traffic
	}
	return 1
}

// Name describes the cell in one line.
func (c Cell) Name() string {
	rate := fmt.Sprintf("err %.1f%%", 100*c.BaseRate)
	switch {
	case c.BaseRate < 0:
		rate = "err 0.1-1%"
	case c.BaseRate == 0:
		rate = "err 0 (sparse)"
	}
	name := c.Effect.Name
	if name == "" {
		name = "none"
	}
	out := fmt.Sprintf("%s; sigma %.1f, phi %.1f, share %g%%, %s", name, c.Sigma, c.Phi, 100*c.Share, rate)
	if c.Overdisp > 0 {
		out += fmt.Sprintf(", overdispersion %g%%", 100*c.Overdisp)
	}
	if c.Common {
		out += ", common noise"
	}
	if x := c.trafficX(); x != 1 {
		out += fmt.Sprintf(", canary traffic %g%% of expected", 100*x)
	}
	if c.MeanOnly {
		out += ", mean alone"
	}
	return out
}

// Stats summarizes one judge over a cell's runs.
type Stats struct {
	// Runs counts the canaries, and Fail, Pass and Inconclusive how each
	// ended.
	Runs, Fail, Pass, Inconclusive int
	// TTD are the minutes at which runs failed.
	TTD []int
	// FailBy counts, for the sequential judge, the metrics that failed.
	FailBy map[string]int
}

// Median and P90 return the median and 90th percentile time to detect,
// in minutes (NaN without detections).
func (s Stats) Median() float64 { return percentile(s.TTD, 0.5) }

// P90 returns the 90th percentile time to detect.
func (s Stats) P90() float64 { return percentile(s.TTD, 0.9) }

func percentile(v []int, p float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return float64(s[max(i, 0)])
}

// Result is one cell's outcome for both judges.
type Result struct {
	// Cell is the scenario.
	Cell Cell
	// Sequential and Kayenta are the two judges' outcomes.
	Sequential Stats
	Kayenta    Stats
}

// Policies returns the two judges' policies for a cell.
func Policies(c Cell) (canary.Policy, canary.KayentaPolicy) {
	seq := canary.Policy{
		TrafficShare: c.Share,
		MaxDuration:  duration.Duration(Horizon * time.Minute),
		Metrics: []canary.Metric{
			{Name: "errors", Kind: canary.Count},
			{Name: "latency", Kind: canary.Mean},
			{Name: "latency_p99", Kind: canary.Quantile, Quantile: 0.99, Buckets: Buckets(c.Sigma)},
		},
	}
	if c.MeanOnly {
		// No request counts to guard: a mean-only policy has no traffic
		// share.
		seq.Metrics = seq.Metrics[1:2]
		seq.TrafficShare = 0
	}
	kay := canary.KayentaPolicy{
		Lifetime: duration.Duration(Horizon * time.Minute),
		Interval: duration.Duration(kayentaEvery * time.Minute),
		Metrics: []canary.KayentaMetric{
			{Name: "latency", Direction: canary.Increase},
			{Name: "latency_p99", Direction: canary.Increase},
			{Name: "error_rate", Direction: canary.Increase},
		},
	}
	if c.MeanOnly {
		kay.Metrics = kay.Metrics[:1]
	}
	return seq, kay
}

// Buckets is the histogram layout for latency with log-sd sigma: one
// bucket up to a little below the 90th percentile, then 5% buckets to twice
// the 99.999th percentile.
func Buckets(sigma float64) []float64 {
	lo := medianMS * math.Exp(1.2816*sigma) / 1.2
	hi := medianMS * math.Exp(4.265*sigma) * 2
	var b []float64
	for x := lo; x <= hi; x *= 1.05 {
		b = append(b, x)
	}
	return b
}

// host is one host's state in a run.
type host struct {
	canary    bool
	weight    float64 // share of the traffic
	offset    float64 // persistent latency level
	ar        float64 // AR(1) latency level
	errOffset float64
	errAR     float64
}

// side accumulates one side's requests in a minute.
type side struct {
	n         int64
	levelSum  float64 // sum of n x log-level
	level2Sum float64 // sum of n x log-level^2
	meanSum   float64 // sum of n x expected latency
	varSum    float64 // sum of n x latency variance
	errors    int64
}

// Run simulates one canary of the cell and returns the minute at which
// each judge decided and what (minute 0: never).
func Run(c Cell, seed uint64) (seqD canary.Decision, seqT int, kayD canary.Decision, kayT int, failBy []string) {
	seqD, seqT, kayD, kayT, failBy, _ = run(c, seed, false)
	return
}

// lastVerdict runs one canary with the sequential judge alone, to its
// deadline, and returns its final verdict (for diagnosis).
func lastVerdict(c Cell, seed uint64) canary.Verdict {
	_, _, _, _, _, v := run(c, seed, true)
	return v
}

func run(c Cell, seed uint64, verdict bool) (seqD canary.Decision, seqT int, kayD canary.Decision, kayT int, failBy []string, last canary.Verdict) {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	seqPolicy, kayPolicy := Policies(c)
	bounds := Buckets(c.Sigma)
	logBounds := make([]float64, len(bounds))
	for i, b := range bounds {
		logBounds[i] = math.Log(b)
	}
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	judge, err := canary.NewJudge(seqPolicy, start)
	if err != nil {
		panic(err) // the harness's own policies are valid
	}
	nCanary := max(1, int(math.Round(c.Share*Hosts)))
	hs := make([]host, Hosts)
	stat := math.Sqrt(1 - c.Phi*c.Phi)
	for i := range hs {
		h := &hs[i]
		h.canary = i < nCanary
		if h.canary {
			h.weight = c.trafficX() * c.Share / float64(nCanary)
		} else {
			h.weight = (1 - c.Share) / float64(Hosts-nCanary)
		}
		h.offset = hostOffsetSD * r.NormFloat64()
		h.ar = hostARSD * r.NormFloat64()
		h.errOffset = errHostSD * r.NormFloat64()
		h.errAR = errHostARSD * r.NormFloat64()
	}
	base := c.BaseRate
	if base < 0 {
		base = math.Exp(math.Log(0.001) + r.Float64()*math.Log(10))
	}
	phase := r.Float64() * 1440
	commonErr := errCommonARSD * r.NormFloat64()
	commonLat := commonLatSD * r.NormFloat64()
	var od [2]float64 // per-side overdispersion factors
	for k := range od {
		od[k] = c.Overdisp * r.NormFloat64()
	}
	e := c.Effect
	sigmaC := c.Sigma + e.TailSigma
	shiftC := math.Log1p(e.LatencyShift)
	if e.VarianceX > 0 {
		s2 := math.Log1p(e.VarianceX * math.Expm1(c.Sigma*c.Sigma))
		sigmaC = math.Sqrt(s2)
		shiftC += (c.Sigma*c.Sigma - s2) / 2
	}
	errRatio := e.ErrorRatio
	if errRatio == 0 {
		errRatio = 1
	}

	kayPts := map[string]canary.Pair{}
	var kayResults []canary.KayentaResult
	cBuckets := make([]int64, len(bounds)+1)
	bBuckets := make([]int64, len(bounds)+1)
	obs := make([]canary.Observation, 3)
	for t := 1; t <= Horizon; t++ {
		now := start.Add(time.Duration(t) * time.Minute)
		traffic := RequestsPerMin * (1 + dailySwing*math.Sin(2*math.Pi*(float64(t)+phase)/1440))
		load := loadEffect * (traffic/RequestsPerMin - 1)
		commonErr = c.Phi*commonErr + stat*errCommonARSD*r.NormFloat64()
		if c.Common {
			commonLat = c.Phi*commonLat + stat*commonLatSD*r.NormFloat64()
			load += commonLat
		}
		for k := range od {
			od[k] = c.Phi*od[k] + stat*c.Overdisp*r.NormFloat64()
		}
		var sides [2]side // 0 canary, 1 baseline
		for i := range hs {
			h := &hs[i]
			h.ar = c.Phi*h.ar + stat*hostARSD*r.NormFloat64()
			h.errAR = c.Phi*h.errAR + stat*errHostARSD*r.NormFloat64()
			n := poisson(r, traffic*h.weight)
			level := h.offset + h.ar + load
			sigma := c.Sigma
			k := 1
			if h.canary {
				k = 0
			}
			rate := base * math.Exp(h.errOffset+h.errAR+commonErr+od[k]-c.Overdisp*c.Overdisp/2)
			if h.canary {
				level += shiftC + math.Log1p(e.Leak*float64(t)/Horizon)
				sigma = sigmaC
				rate *= errRatio
				if c.BaseRate == 0 {
					rate = e.SparseRate
				}
			} else if c.BaseRate == 0 {
				rate = 0
			}
			s := &sides[k]
			fn := float64(n)
			s.n += n
			s.levelSum += fn * level
			s.level2Sum += fn * level * level
			// Log-normal with log-median log(100) + level and log-sd sigma.
			mu := math.Log(medianMS) + level
			s.meanSum += fn * math.Exp(mu+sigma*sigma/2)
			s.varSum += fn * math.Expm1(sigma*sigma) * math.Exp(2*mu+sigma*sigma)
			s.errors += poisson(r, fn*math.Min(rate, 1))
		}
		var means, p99s, rates [2]float64
		for k := range sides {
			s := &sides[k]
			sigma := c.Sigma
			if k == 0 {
				sigma = sigmaC
			}
			bk := cBuckets
			if k == 1 {
				bk = bBuckets
			}
			clear(bk)
			if s.n == 0 {
				means[k], p99s[k], rates[k] = math.NaN(), math.NaN(), math.NaN()
				continue
			}
			fn := float64(s.n)
			means[k] = s.meanSum/fn + math.Sqrt(s.varSum)/fn*r.NormFloat64()
			lv := s.levelSum / fn
			sg := math.Sqrt(sigma*sigma + math.Max(s.level2Sum/fn-lv*lv, 0))
			histogram(r, bk, logBounds, fn, math.Log(medianMS)+lv, sg)
			p99s[k] = histQuantile(bk, bounds, 0.99)
			rates[k] = float64(s.errors) / fn
		}
		obs := obs
		if c.MeanOnly {
			obs = obs[:1]
			obs[0] = canary.Observation{Metric: "latency", CanaryValue: means[0], BaselineValue: means[1]}
		} else {
			obs[0] = canary.Observation{Metric: "errors", CanaryEvents: sides[0].errors, BaselineEvents: sides[1].errors,
				CanaryRequests: sides[0].n, BaselineRequests: sides[1].n}
			obs[1] = canary.Observation{Metric: "latency", CanaryValue: means[0], BaselineValue: means[1]}
			obs[2] = canary.Observation{Metric: "latency_p99", CanaryBuckets: cBuckets, BaselineBuckets: bBuckets}
		}
		if seqT == 0 {
			if err := judge.Observe(now, obs...); err != nil {
				panic(err)
			}
			if d := judge.Decide(now); d != canary.Continue {
				seqD, seqT = d, t
				if d == canary.Fail {
					for _, m := range judge.Verdict(now).Metrics {
						if m.Decision == canary.Fail {
							failBy = append(failBy, m.Name)
						}
					}
				}
			}
		}
		if kayT == 0 {
			for name, v := range map[string][2]float64{"latency": means, "latency_p99": p99s, "error_rate": rates} {
				if c.MeanOnly && name != "latency" {
					continue
				}
				p := kayPts[name]
				p.Canary = append(p.Canary, v[0])
				p.Baseline = append(p.Baseline, v[1])
				kayPts[name] = p
			}
			if t%kayentaEvery == 0 {
				res, err := kayPolicy.Judge(kayPts)
				if err != nil {
					panic(err)
				}
				kayResults = append(kayResults, res)
				if d, _ := kayPolicy.Decide(kayResults, kayPolicy.Windows()); d != canary.Continue {
					kayD, kayT = d, t
				}
			}
		}
		if seqT != 0 && kayT != 0 && !verdict {
			break
		}
		if verdict && t == Horizon {
			last = judge.Verdict(now)
		}
	}
	return seqD, seqT, kayD, kayT, failBy, last
}

// histogram fills counts with Poisson bucket counts of fn log-normal
// requests with log-median mu and log-sd sigma; logBounds are the logs of
// the bucket bounds.
func histogram(r *rand.Rand, counts []int64, logBounds []float64, fn, mu, sigma float64) {
	prev := 0.0
	k := 1 / (sigma * math.Sqrt2)
	for j, lb := range logBounds {
		if fn*(1-prev) < 1e-7 {
			// Nothing is left to fall into the remaining buckets.
			clear(counts[j:])
			return
		}
		cdf := normCDF((lb - mu) * k * math.Sqrt2)
		counts[j] = poisson(r, fn*(cdf-prev))
		prev = cdf
	}
	counts[len(logBounds)] = poisson(r, fn*(1-prev))
}

// normCDF is the standard normal CDF, interpolated in a table: ten times
// faster than math.Erfc and accurate to 1e-9, plenty for simulating counts.
func normCDF(z float64) float64 {
	const lim = 9.0
	switch {
	case z <= -lim:
		return 0
	case z >= lim:
		return 1
	}
	x := (z + lim) * cdfPerUnit
	i := int(x)
	f := x - float64(i)
	return cdfTable[i] + f*(cdfTable[i+1]-cdfTable[i])
}

const cdfPerUnit = 2000

var cdfTable = func() []float64 {
	t := make([]float64, 18*cdfPerUnit+2)
	for i := range t {
		z := float64(i)/cdfPerUnit - 9
		t[i] = 0.5 * math.Erfc(-z/math.Sqrt2)
	}
	return t
}()

// histQuantile reads the q-quantile from a histogram, interpolating
// geometrically within the bucket.
func histQuantile(counts []int64, bounds []float64, q float64) float64 {
	var n int64
	for _, c := range counts {
		n += c
	}
	if n == 0 {
		return math.NaN()
	}
	target := q * float64(n)
	var cum int64
	for j, c := range counts {
		if c > 0 && float64(cum+c) >= target {
			if j == len(bounds) {
				return bounds[j-1]
			}
			lo := bounds[j] / 1.05
			if j > 0 {
				lo = bounds[j-1]
			}
			return lo * math.Pow(bounds[j]/lo, (target-float64(cum))/float64(c))
		}
		cum += c
	}
	return bounds[len(bounds)-1]
}

// poisson draws a Poisson variate: by multiplication of uniforms for a
// small mean, by the rounded normal approximation for a large one.
func poisson(r *rand.Rand, lambda float64) int64 {
	switch {
	case !(lambda > 0):
		return 0
	case lambda < 30:
		u := r.Float64()
		if u < 1-lambda {
			return 0 // u < 1 - lambda <= exp(-lambda): no exp needed
		}
		l := math.Exp(-lambda)
		k, p := int64(0), u
		for p > l {
			k++
			p *= r.Float64()
		}
		return k
	}
	return max(0, int64(math.Round(lambda+math.Sqrt(lambda)*r.NormFloat64())))
}

// Evaluate runs every cell on workers goroutines and returns the results
// in cell order. Run i of a cell uses a seed made of seed, the cell's name
// and i, so a cell's results depend neither on the number of workers nor
// on which other cells run with it.
func Evaluate(cells []Cell, seed uint64, workers int) []Result {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	results := make([]Result, len(cells))
	type job struct{ cell, from, to int }
	jobs := make(chan job)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for jb := range jobs {
				var seq, kay Stats
				for i := jb.from; i < jb.to; i++ {
					sd, st, kd, kt, by := Run(cells[jb.cell], cellSeed(seed, cells[jb.cell])+uint64(i))
					seq.add(sd, st)
					for _, m := range by {
						if seq.FailBy == nil {
							seq.FailBy = map[string]int{}
						}
						seq.FailBy[m]++
					}
					kay.add(kd, kt)
				}
				mu.Lock()
				results[jb.cell].Sequential.merge(seq)
				results[jb.cell].Kayenta.merge(kay)
				mu.Unlock()
			}
		}()
	}
	for k, c := range cells {
		results[k].Cell = c
		for from := 0; from < c.Runs; from += 250 {
			jobs <- job{k, from, min(from+250, c.Runs)}
		}
	}
	close(jobs)
	wg.Wait()
	return results
}

// cellSeed mixes the seed with an FNV-1a hash of the cell's name.
func cellSeed(seed uint64, c Cell) uint64 {
	h := uint64(14695981039346656037)
	for _, b := range []byte(c.Name()) {
		h ^= uint64(b)
		h *= 1099511628211
	}
	return seed ^ h
}

func (s *Stats) add(d canary.Decision, t int) {
	s.Runs++
	switch d {
	case canary.Fail:
		s.Fail++
		s.TTD = append(s.TTD, t)
	case canary.Pass:
		s.Pass++
	default:
		s.Inconclusive++
	}
}

func (s *Stats) merge(o Stats) {
	s.Runs += o.Runs
	s.Fail += o.Fail
	s.Pass += o.Pass
	s.Inconclusive += o.Inconclusive
	s.TTD = append(s.TTD, o.TTD...)
	for m, n := range o.FailBy {
		if s.FailBy == nil {
			s.FailBy = map[string]int{}
		}
		s.FailBy[m] += n
	}
}

// Cells returns the evaluation's scenarios: every null cell with nullRuns
// runs and every effect cell with effectRuns runs.
func Cells(nullRuns, effectRuns int) []Cell {
	var cells []Cell
	sigmas := []float64{0.5, 1.0}
	phis := []float64{0, 0.5, 0.8}
	shares := []float64{0.05, 0.10, 0.50}
	for _, sg := range sigmas {
		for _, ph := range phis {
			for _, sh := range shares {
				cells = append(cells, Cell{Sigma: sg, Phi: ph, Share: sh, BaseRate: -1, Runs: nullRuns})
			}
		}
	}
	for _, sh := range shares {
		cells = append(cells, Cell{Sigma: 0.5, Phi: 0.5, Share: sh, BaseRate: 0, Runs: nullRuns})
	}
	// Issue 14's axes: phi 0.9, overdispersed error counts, noise common
	// to both sides, and the mean metric alone.
	for _, sg := range sigmas {
		cells = append(cells, Cell{Sigma: sg, Phi: 0.9, Share: 0.10, BaseRate: -1, Runs: nullRuns})
	}
	for _, od := range []float64{0.1, 0.25, 0.5} {
		for _, ph := range []float64{0, 0.5, 0.8, 0.9} {
			cells = append(cells, Cell{Sigma: 0.5, Phi: ph, Share: 0.10, BaseRate: -1, Overdisp: od, Runs: nullRuns})
		}
	}
	for _, ph := range []float64{0.5, 0.8} {
		cells = append(cells, Cell{Sigma: 0.5, Phi: ph, Share: 0.10, BaseRate: -1, Overdisp: 0.25, Common: true, Runs: nullRuns})
	}
	for _, ph := range []float64{0, 0.5, 0.8, 0.9} {
		cells = append(cells, Cell{Sigma: 0.5, Phi: ph, Share: 0.10, BaseRate: -1, MeanOnly: true, Runs: nullRuns})
	}
	// Canaries without traffic, or with 1% of it: never a pass.
	for _, sh := range []float64{0.05, 0.10} {
		cells = append(cells, Cell{Sigma: 0.5, Phi: 0.5, Share: sh, BaseRate: -1, NoTraffic: true, Runs: nullRuns})
		cells = append(cells, Cell{Sigma: 0.5, Phi: 0.5, Share: sh, BaseRate: -1, Traffic: 0.01, Runs: nullRuns})
	}
	for _, ph := range []float64{0, 0.5, 0.8} {
		for _, sh := range []float64{0.1, 0.5} {
			cells = append(cells, Cell{Effect: Effect{Name: fmt.Sprintf("latency +%g%%", 100*sh), LatencyShift: sh},
				Sigma: 0.5, Phi: ph, Share: 0.10, BaseRate: -1, MeanOnly: true, Runs: effectRuns})
		}
	}
	for _, rate := range []float64{0.001, 0.01} {
		cells = append(cells, Cell{Effect: Effect{Name: "errors x2", ErrorRatio: 2},
			Sigma: 0.5, Phi: 0.5, Share: 0.10, BaseRate: rate, Overdisp: 0.25, Runs: effectRuns})
	}
	latency := func(e Effect) {
		for _, sg := range sigmas {
			for _, ph := range phis {
				cells = append(cells, Cell{Effect: e, Sigma: sg, Phi: ph, Share: 0.10, BaseRate: -1, Runs: effectRuns})
			}
		}
	}
	for _, s := range []float64{0.02, 0.05, 0.10, 0.20, 0.50} {
		latency(Effect{Name: fmt.Sprintf("latency +%g%%", 100*s), LatencyShift: s})
	}
	latency(Effect{Name: "p99 +20%, median same", TailSigma: math.Log(1.2) / 2.3263})
	latency(Effect{Name: "variance x2, mean same", VarianceX: 2})
	latency(Effect{Name: "slow leak to +50%", Leak: 0.5})
	for _, ratio := range []float64{1.25, 1.5, 2, 5} {
		for _, sh := range shares {
			for _, rate := range []float64{0.001, 0.01} {
				cells = append(cells, Cell{Effect: Effect{Name: fmt.Sprintf("errors x%g", ratio), ErrorRatio: ratio},
					Sigma: 0.5, Phi: 0.5, Share: sh, BaseRate: rate, Runs: effectRuns})
			}
		}
	}
	for _, sh := range shares {
		cells = append(cells, Cell{Effect: Effect{Name: "sparse errors 0.05% vs 0", SparseRate: 0.0005},
			Sigma: 0.5, Phi: 0.5, Share: sh, BaseRate: 0, Runs: effectRuns})
	}
	return cells
}

// Table formats results as a Markdown table: per cell and judge, the
// share of runs that failed (a false fail under no change, a detection
// otherwise), passed, and ended inconclusive, and the median and 90th
// percentile minute of detection.
func Table(results []Result) string {
	var b strings.Builder
	b.WriteString("| scenario | judge | runs | fail | fail, upper 95% | pass | inconclusive | median TTD (min) | p90 TTD (min) | failed on |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	pct := func(k, n int) string { return fmt.Sprintf("%.2f%%", 100*float64(k)/float64(n)) }
	ttd := func(v float64) string {
		if math.IsNaN(v) {
			return "-"
		}
		return fmt.Sprintf("%.0f", v)
	}
	for _, r := range results {
		for _, j := range []struct {
			name string
			s    Stats
		}{{"sequential", r.Sequential}, {"kayenta", r.Kayenta}} {
			var by []string
			for _, m := range []string{"errors", "latency", "latency_p99"} {
				if n := j.s.FailBy[m]; n > 0 {
					by = append(by, fmt.Sprintf("%s %d", m, n))
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %s | %.2f%% | %s | %s | %s | %s | %s |\n", r.Cell.Name(), j.name, j.s.Runs,
				pct(j.s.Fail, j.s.Runs), 100*Upper95(j.s.Fail, j.s.Runs), pct(j.s.Pass, j.s.Runs), pct(j.s.Inconclusive, j.s.Runs), ttd(j.s.Median()), ttd(j.s.P90()), strings.Join(by, ", "))
		}
	}
	return b.String()
}

// Worst returns the largest false-fail rate over the null cells for each
// judge.
func Worst(results []Result) (seq, kay float64, seqCell, kayCell string) {
	for _, r := range results {
		if !r.Cell.Effect.IsNull() {
			continue
		}
		if f := float64(r.Sequential.Fail) / float64(r.Sequential.Runs); f >= seq {
			seq, seqCell = f, r.Cell.Name()
		}
		if f := float64(r.Kayenta.Fail) / float64(r.Kayenta.Runs); f >= kay {
			kay, kayCell = f, r.Cell.Name()
		}
	}
	return seq, kay, seqCell, kayCell
}

// Upper95 is the upper end of the Wilson score interval (95%, two-sided)
// for k successes in n trials.
func Upper95(k, n int) float64 {
	if n == 0 {
		return 1
	}
	const z = 1.959964
	p, fn := float64(k)/float64(n), float64(n)
	d := 1 + z*z/fn
	c := p + z*z/(2*fn)
	h := z * math.Sqrt(p*(1-p)/fn+z*z/(4*fn*fn))
	return (c + h) / d
}
