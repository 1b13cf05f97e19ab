package rollouttest

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/shepherd-go/shepherd/wave"
)

// Defaults of [Traffic].
const (
	// DefaultRate is the requests per second a target of weight 1 serves
	// at its daily peak.
	DefaultRate = 10.0
	// DefaultTrough is the daily low as a share of the peak.
	DefaultTrough = 0.25
	// DefaultPeakHour is the local hour of the daily peak.
	DefaultPeakHour = 14.0
	// DefaultNoise is the relative standard deviation of one period's
	// request count.
	DefaultNoise = 0.05
	// DefaultErrorRate is the baseline share of failed requests.
	DefaultErrorRate = 0.001
	// DefaultLatency is the baseline median latency.
	DefaultLatency = 50 * time.Millisecond
	// DefaultSpread is the log-normal spread (sigma) of latencies: with
	// 0.4, p99 is about 2.5 times the median.
	DefaultSpread = 0.4
	// DefaultPeriod is the resolution of the synthetic metrics.
	DefaultPeriod = time.Minute
)

// Traffic shapes the requests a [Fleet] serves. Each target serves a rate
// proportional to its weight that follows a daily curve in its region's
// local time (a cosine from Trough at night to 1 at PeakHour), with
// seeded noise per period; requests fail at the baseline error rate plus
// whatever the version running adds ([Behavior]); latencies are
// log-normal around the baseline median plus what the version adds.
//
// Every field's zero value is a documented default; a negative Noise or
// ErrorRate means none.
type Traffic struct {
	// Rate is the requests per second a target of weight 1 serves at its
	// daily peak. Zero means [DefaultRate].
	Rate float64
	// Trough is the daily low as a share of the peak, in (0, 1]; 1 makes
	// the traffic flat. Zero means [DefaultTrough].
	Trough float64
	// PeakHour is the local hour of the daily peak, in (0, 24] (24 is
	// midnight). Zero means [DefaultPeakHour].
	PeakHour float64
	// Noise is the relative standard deviation of a period's request
	// count. Zero means [DefaultNoise]; negative means no noise at all:
	// requests and errors are exactly their expected numbers, rounded.
	Noise float64
	// ErrorRate is the share of requests that fail on a healthy version.
	// Zero means [DefaultErrorRate]; negative means none.
	ErrorRate float64
	// Latency is the median latency of a healthy version. Zero means
	// [DefaultLatency].
	Latency time.Duration
	// Spread is the log-normal sigma of latencies. Zero means
	// [DefaultSpread].
	Spread float64
	// Period is the resolution of the metrics: request counts are drawn
	// per period, and query steps must be whole multiples of it. Zero
	// means [DefaultPeriod].
	Period time.Duration
	// Locations gives each region's time zone for the daily curve; a
	// region that is not here follows UTC.
	Locations map[string]*time.Location
}

func (t *Traffic) validate(ps *problems) {
	if !(t.Rate >= 0) || math.IsInf(t.Rate, 0) {
		ps.add("Traffic.Rate", "%v is not a finite non-negative number", t.Rate)
	}
	if !(t.Trough >= 0 && t.Trough <= 1) {
		ps.add("Traffic.Trough", "%v is outside (0, 1]", t.Trough)
	}
	if !(t.PeakHour >= 0 && t.PeakHour <= 24) {
		ps.add("Traffic.PeakHour", "%v is outside (0, 24]", t.PeakHour)
	}
	if math.IsNaN(t.Noise) || t.Noise > 1 {
		ps.add("Traffic.Noise", "%v is above 1", t.Noise)
	}
	if math.IsNaN(t.ErrorRate) || t.ErrorRate > 1 {
		ps.add("Traffic.ErrorRate", "%v is above 1", t.ErrorRate)
	}
	if t.Latency < 0 {
		ps.add("Traffic.Latency", "%s is negative", t.Latency)
	}
	if !(t.Spread >= 0 && t.Spread <= 5) {
		ps.add("Traffic.Spread", "%v is outside [0, 5]", t.Spread)
	}
	if t.Period < 0 || (t.Period > 0 && t.Period < time.Second) {
		ps.add("Traffic.Period", "%s is not a duration of at least 1s", t.Period)
	}
	for _, r := range sortedKeys(t.Locations) {
		if t.Locations[r] == nil {
			ps.add(fmt.Sprintf("Traffic.Locations[%q]", r), "nil location")
		}
	}
}

// traffic is a Traffic with its defaults applied.
type traffic struct {
	seed      uint64
	rate      []float64 // per target, at the peak
	loc       []*time.Location
	zones     []atomic.Pointer[zoneSpan] // per target: its current offset
	trough    float64
	peak      float64
	noise     float64
	errorRate float64
	latency   float64 // seconds
	spread    float64
	period    int64 // nanoseconds
	periodSec float64
	exact     bool // no noise at all: counts are their expected values
}

func newTraffic(t Traffic, seed uint64, targets []wave.Target, regions []string) traffic {
	tr := traffic{
		seed:      seed,
		trough:    orF(t.Trough, DefaultTrough),
		peak:      orF(t.PeakHour, DefaultPeakHour),
		noise:     orF(t.Noise, DefaultNoise),
		errorRate: orF(t.ErrorRate, DefaultErrorRate),
		latency:   orD(t.Latency, DefaultLatency).Seconds(),
		spread:    orF(t.Spread, DefaultSpread),
		period:    int64(orD(t.Period, DefaultPeriod)),
	}
	tr.exact = tr.noise < 0
	tr.noise = max(tr.noise, 0)
	tr.errorRate = max(tr.errorRate, 0)
	tr.periodSec = time.Duration(tr.period).Seconds()
	rate := orF(t.Rate, DefaultRate)
	tr.rate = make([]float64, len(targets))
	tr.loc = make([]*time.Location, len(targets))
	tr.zones = make([]atomic.Pointer[zoneSpan], len(targets))
	for i, tg := range targets {
		w := tg.Weight
		if w == 0 {
			w = 1
		}
		tr.rate[i] = rate * w
		tr.loc[i] = time.UTC
		if l := t.Locations[regions[i]]; l != nil {
			tr.loc[i] = l
		}
	}
	return tr
}

func orF(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

func orD(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// load is target i's traffic at ns as a share of its daily peak, in
// [trough, 1].
func (tr *traffic) load(i int, ns int64) float64 {
	if tr.trough >= 1 {
		return 1
	}
	sec := floorDiv(ns, int64(time.Second))
	off := tr.offset(i, sec)
	day := (sec + off) % 86400
	if day < 0 {
		day += 86400
	}
	h := float64(day) / 3600
	return tr.trough + (1-tr.trough)*(1+math.Cos(2*math.Pi*(h-tr.peak)/24))/2
}

// zoneSpan is a span of Unix seconds over which a location keeps one UTC
// offset.
type zoneSpan struct {
	from, to int64 // [from, to)
	offset   int64
}

// offset is target i's UTC offset, in seconds, at Unix second sec. It
// remembers the span of the last answer, so that the time zone database
// is consulted only when a daylight-saving change is crossed.
func (tr *traffic) offset(i int, sec int64) int64 {
	if z := tr.zones[i].Load(); z != nil && sec >= z.from && sec < z.to {
		return z.offset
	}
	t := time.Unix(sec, 0).In(tr.loc[i])
	_, off := t.Zone()
	z := &zoneSpan{from: math.MinInt64, to: math.MaxInt64, offset: int64(off)}
	if a, b := t.ZoneBounds(); !a.IsZero() || !b.IsZero() {
		if !a.IsZero() {
			z.from = a.Unix()
		}
		if !b.IsZero() {
			z.to = b.Unix()
		}
	}
	tr.zones[i].Store(z)
	return z.offset
}

// requests is the number of requests target i serves in period k.
func (tr *traffic) requests(i int, k int64) int64 {
	mid := k*tr.period + tr.period/2
	mean := tr.rate[i] * tr.load(i, mid) * tr.periodSec
	if tr.noise > 0 {
		mean *= max(0, 1+tr.noise*normal(tr.seed, uint64(i), uint64(k), 0))
	}
	return int64(math.Round(mean))
}

// floorDiv divides rounding towards minus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// Deterministic noise: a stateless hash of the seed and the coordinates
// of a draw, so that the same draw gives the same value whoever asks,
// whenever, in whatever order.

func mix(x uint64) uint64 { // splitmix64's finaliser
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func hash(vs ...uint64) uint64 {
	h := uint64(0x9e3779b97f4a7c15)
	for _, v := range vs {
		h = mix(h ^ (v + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2)))
	}
	return h
}

func strHash(s string) uint64 {
	h := uint64(14695981039346656037) // FNV-1a
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// normal is a standard normal draw (Box-Muller) for the coordinates.
func normal(seed uint64, a, b, c uint64) float64 {
	h := hash(seed, a, b, c)
	u1 := unit(h)
	u2 := unit(mix(h ^ 0x5851f42d4c957f2d))
	if u1 < 1e-300 {
		u1 = 1e-300
	}
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}
