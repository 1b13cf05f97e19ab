package rollouttest

import (
	"math"
	"slices"
	"time"
)

// part is what a target served with one version during part of a period.
type part struct {
	requests, errors int64
	median           float64 // seconds
}

// tally accumulates parts. When latency is asked for, it keeps one part
// per distinct median latency, so that percentiles are computed over a
// mixture of a few components.
type tally struct {
	requests, errors int64
	parts            []part
	index            map[float64]int
	keep             bool
}

func (t *tally) add(p part) {
	t.requests += p.requests
	t.errors += p.errors
	if !t.keep || p.requests == 0 {
		return
	}
	if t.index == nil {
		t.index = map[float64]int{}
	}
	if j, ok := t.index[p.median]; ok {
		t.parts[j].requests += p.requests
		return
	}
	t.index[p.median] = len(t.parts)
	t.parts = append(t.parts, p)
}

func (t *tally) reset() {
	t.requests, t.errors = 0, 0
	t.parts = t.parts[:0]
	clear(t.index)
}

// ns turns a time into Unix nanoseconds, the zero time into the smallest
// value.
func ns(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

// history returns target i's segments. Segments are only ever appended,
// so the returned slice stays valid without the lock.
func (f *Fleet) history(i int) []segment {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hist[i]
}

// serve calls add for what target i served in [a, b) (Unix nanoseconds),
// with each version that keep accepts (nil: every version), one part per
// period and version. (Remembering whole periods was measured: the map
// costs more than drawing the period again.)
func (f *Fleet) serve(i int, h []segment, a, b int64, keep func(string) bool, add func(string, part)) {
	if b <= a {
		return
	}
	P := f.traffic.period
	for k := floorDiv(a, P); k*P < b; k++ {
		f.servePeriod(i, h, k, max(a, k*P), min(b, k*P+P), keep, add)
	}
}

// servePeriod calls add for what target i served in [lo, hi), within
// period k.
func (f *Fleet) servePeriod(i int, h []segment, k, lo, hi int64, keep func(string) bool, add func(string, part)) {
	tr := &f.traffic
	P := tr.period
	b0 := k * P
	var n int64 = -1 // drawn lazily: a filtered period may not need it
	// cumulative requests of the period up to t
	cum := func(t int64) int64 {
		return int64(math.Round(float64(n) * float64(t-b0) / float64(P)))
	}
	for j := range h {
		from := ns(h[j].from)
		to := int64(math.MaxInt64)
		if j+1 < len(h) {
			to = ns(h[j+1].from)
		}
		s, e := max(lo, from), min(hi, to)
		if s >= e {
			continue
		}
		v := h[j].version
		if keep != nil && !keep(v) {
			continue
		}
		if n < 0 {
			n = tr.requests(i, k)
		}
		req := cum(e) - cum(s)
		mid := s + (e-s)/2
		er, lat := f.behave(i, v, from, mid)
		p := part{requests: req}
		if req > 0 {
			// Failures are binomial; without noise, exactly the
			// expected number (rounded).
			mean := float64(req) * er
			x := math.Round(mean)
			if !tr.exact {
				sd := math.Sqrt(mean * (1 - er))
				x = math.Round(mean + sd*normal(tr.seed, uint64(i), uint64(k), strHash(v)^1))
			}
			p.errors = int64(min(max(x, 0), float64(req)))
			// Latency grows a little with load: 10% above the
			// baseline at the peak, 10% below in the trough.
			p.median = lat * (0.9 + 0.2*tr.load(i, mid))
		}
		add(v, p)
	}
}

// behave is the error rate and median latency (seconds) of version v on
// target i at t (ns), the target having run v since since (ns).
func (f *Fleet) behave(i int, v string, since, t int64) (errRate, latency float64) {
	tr := &f.traffic
	errRate, latency = tr.errorRate, tr.latency
	b, ok := f.cfg.Versions[v]
	if !ok {
		return errRate, latency
	}
	errRate += b.ErrorRate
	latency += b.Latency.Seconds()
	for ri := range b.Regressions {
		r := &b.Regressions[ri]
		if !r.From.IsZero() && t < r.From.UnixNano() {
			continue
		}
		if r.After > 0 && since != math.MinInt64 && t-since < int64(r.After) {
			continue
		}
		if !selects(r.Regions, r.Zones, r.Targets, f.region[i], f.zone[i], f.targets[i].ID) {
			continue
		}
		if r.MinLoad > 0 && tr.load(i, t) < r.MinLoad {
			continue
		}
		errRate += r.ErrorRate
		latency += r.Latency.Seconds()
	}
	return min(errRate, 1), latency
}

// mean is the request-weighted mean latency of the parts.
func (f *Fleet) meanLatency(ps []part) float64 {
	var sum, n float64
	for _, p := range ps {
		sum += float64(p.requests) * p.median
		n += float64(p.requests)
	}
	s := f.traffic.spread
	return sum / n * math.Exp(s*s/2)
}

// quantile is the q-quantile of the mixture of log-normal latencies the
// parts describe (each weighted by its requests).
func (f *Fleet) quantile(ps []part, q float64) float64 {
	s := f.traffic.spread
	var total float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range ps {
		total += float64(p.requests)
		l := math.Log(p.median)
		lo, hi = min(lo, l), max(hi, l)
	}
	if s == 0 || lo == hi {
		if lo == hi {
			return math.Exp(lo + s*math.Sqrt2*math.Erfinv(2*q-1))
		}
		// Without spread, latencies are the medians themselves.
		sorted := slices.Clone(ps)
		slices.SortFunc(sorted, func(a, b part) int { return cmpF(a.median, b.median) })
		acc := 0.0
		for _, p := range sorted {
			acc += float64(p.requests)
			if acc >= q*total {
				return p.median
			}
		}
		return sorted[len(sorted)-1].median
	}
	// Bisection on the logarithm: the mixture's CDF is increasing.
	lo, hi = lo-8*s, hi+8*s
	logs := make([]float64, len(ps))
	for j, p := range ps {
		logs[j] = math.Log(p.median)
	}
	k := 1 / (s * math.Sqrt2)
	for range 48 { // 2^-48 of the bracket: far below any latency resolution
		mid := (lo + hi) / 2
		var c float64
		for j, p := range ps {
			c += float64(p.requests) * 0.5 * math.Erfc((logs[j]-mid)*k)
		}
		if c < q*total {
			lo = mid
		} else {
			hi = mid
		}
	}
	return math.Exp((lo + hi) / 2)
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
