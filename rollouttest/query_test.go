package rollouttest_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
)

// flat is traffic without a daily curve or noise: every target serves
// exactly 10 requests per second, 600 a minute, and a healthy version
// fails none.
var flat = rollouttest.Traffic{Trough: 1, Noise: -1, ErrorRate: -1}

func minutes(start time.Time, n int) alarm.Range {
	return alarm.Range{Start: start.Add(time.Minute), End: start.Add(time.Duration(n) * time.Minute), Step: time.Minute}
}

func values(s alarm.Series) []float64 {
	var out []float64
	for _, p := range s.Points {
		out = append(out, p.Value)
	}
	return out
}

func TestQueryScopes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// r1 and r2, two zones each, two hosts per zone: 8 hosts.
		f := newFleet(t, rollouttest.Config{Traffic: flat, Versions: map[string]rollouttest.Behavior{"v2": {ErrorRate: 0.5}}})
		start := time.Now()
		time.Sleep(2 * time.Minute)
		if err := f.Deploy(t.Context(), target(f, "r1a-1"), "v2"); err != nil { // at 2m
			t.Fatal(err)
		}
		time.Sleep(3 * time.Minute) // now 5m
		r := minutes(start, 4)      // points at 1m, 2m, 3m, 4m
		for _, tc := range []struct {
			query string
			want  []float64
		}{
			{"requests", []float64{4800, 4800, 4800, 4800}},
			{`requests{region="r1"}`, []float64{2400, 2400, 2400, 2400}},
			{`requests{zone="r1a"}`, []float64{1200, 1200, 1200, 1200}},
			{`requests{target="r1a-1"}`, []float64{600, 600, 600, 600}},
			{`requests{region="r1", target!="r1a-1"}`, []float64{1800, 1800, 1800, 1800}},
			{`requests{zone=r2a,region=r1}`, []float64{0, 0, 0, 0}},
			// r1a-1 runs v2 from 2m: the point at 3m covers [2m, 3m).
			{`requests{version="v2"}`, []float64{0, 0, 600, 600}},
			{`requests{version!="v2"}`, []float64{4800, 4800, 4200, 4200}},
			{`errors{version="v2"}`, []float64{0, 0, 300, 300}},
			{`error_rate{version="v2"}`, []float64{0.5, 0.5}},
			{`error_rate{version="v3"}`, nil},
		} {
			s, err := f.Query(t.Context(), tc.query, r)
			if err != nil {
				t.Errorf("%s: %v", tc.query, err)
				continue
			}
			if diff := cmp.Diff(tc.want, values(s)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.query, diff)
			}
		}
		// Points are stamped at Start + k*Step, never after now, and
		// carry their requests as samples.
		s, err := f.Query(t.Context(), `error_rate{target="r1a-1"}`, alarm.Range{Start: start.Add(90 * time.Second), End: start.Add(time.Hour), Step: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		var times []time.Duration
		for _, p := range s.Points {
			times = append(times, p.Time.Sub(start))
			if p.Samples != 600 {
				t.Errorf("point at %s has %d samples, want 600", p.Time.Sub(start), p.Samples)
			}
		}
		want := []time.Duration{90 * time.Second, 150 * time.Second, 210 * time.Second, 270 * time.Second}
		if diff := cmp.Diff(want, times); diff != "" {
			t.Errorf("point times (-want +got):\n%s", diff)
		}
		if got := s.Labels; got["target"] != "=r1a-1" || got["__name__"] != "error_rate" {
			t.Errorf("labels %v", got)
		}
	})
}

func TestQueryLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFleet(t, rollouttest.Config{
			Traffic:  rollouttest.Traffic{Trough: 1, Noise: -1, Spread: 0.5},
			Versions: map[string]rollouttest.Behavior{"slow": {Latency: 950 * time.Millisecond}},
		})
		start := time.Now()
		for _, tg := range f.Targets()[:4] { // half the fleet
			if err := f.Deploy(t.Context(), tg, "slow"); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Minute)
		r := minutes(start, 2)
		// Healthy: median 50ms * 1.1 (latency grows 10% at the peak, and
		// flat traffic is always at its peak) = 55ms; log-normal with
		// sigma 0.5.
		q := func(query string) float64 {
			s, err := f.Query(t.Context(), query, r)
			if err != nil || len(s.Points) != 2 {
				t.Fatalf("%s: %v, %d points", query, err, len(s.Points))
			}
			return s.Points[1].Value
		}
		near := func(name string, got, want float64) {
			if math.Abs(got-want) > 1e-9*want {
				t.Errorf("%s = %.12g, want %.12g", name, got, want)
			}
		}
		near("p50 of the healthy half", q(`latency_p50_seconds{version="v1"}`), 0.055)
		near("p99 of the healthy half", q(`latency_p99_seconds{version="v1"}`), 0.055*math.Exp(0.5*2.3263478740408408))
		near("mean of the slow half", q(`latency_mean_seconds{version="slow"}`), 1.1*math.Exp(0.125))
		// The whole fleet is an even mixture: its median lies between
		// the two halves', where their CDFs sum to one half.
		med := q("latency_p50_seconds")
		cdf := func(x, m float64) float64 { return 0.5 * math.Erfc(-(math.Log(x)-math.Log(m))/(0.5*math.Sqrt2)) }
		if mix := (cdf(med, 0.055) + cdf(med, 1.1)) / 2; math.Abs(mix-0.5) > 1e-9 {
			t.Errorf("fleet p50 %.6g: the mixture's CDF there is %.9f, want 0.5", med, mix)
		}
	})
}

func TestQueryErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFleet(t, rollouttest.Config{})
		time.Sleep(time.Hour)
		r := minutes(time.Now().Add(-time.Hour), 10)
		for _, tc := range []struct{ query, want string }{
			{"", `unknown metric ""`},
			{"cpu", `unknown metric "cpu"`},
			{"latency_p100_seconds", `percentile "100"`},
			{"latency_p1e1_seconds", `percentile "1e1"`},
			{"requests{", "missing the closing brace"},
			{"requests{host=x}", `unknown label "host"`},
			{"requests{target}", "want label=value"},
			{`requests{target="x}`, "unterminated quoted value"},
			{`requests{target=""}`, "empty value"},
			{`requests{target=r1a-1 region=r1}`, "want a comma"},
			{`requests{target=r1a-1,}`, "trailing comma"},
			{`requests{target="r9-1"}`, `no target "r9-1" in the fleet`},
			{`requests{zone!="r9a"}`, `no zone "r9a" in the fleet`},
			{`requests{region="r9"}`, `no region "r9" in the fleet`},
		} {
			_, err := f.Query(t.Context(), tc.query, r)
			if !errors.Is(err, rollouttest.ErrBadQuery) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Query(%q) = %v, want ErrBadQuery saying %q", tc.query, err, tc.want)
			}
		}
		if _, err := f.Query(t.Context(), "requests", alarm.Range{Start: r.Start, End: r.End, Step: 90 * time.Second}); err == nil || !strings.Contains(err.Error(), "not a whole multiple") {
			t.Errorf("a step of 90s: %v", err)
		}
		if _, err := f.Query(t.Context(), "requests", alarm.Range{Start: r.Start.Add(-24 * 30 * time.Hour), End: r.End, Step: time.Minute}); err == nil || !strings.Contains(err.Error(), "exceed the maximum") {
			t.Errorf("a month at one-minute steps: %v", err)
		}
		if _, err := f.Query(t.Context(), "requests", alarm.Range{Start: r.End, End: r.Start, Step: time.Minute}); err == nil {
			t.Error("a range that ends before it starts is not an error")
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := f.Query(ctx, "requests", r); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled: %v", err)
		}
	})
}

func TestTrafficFollowsTheDay(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	synctest.Test(t, func(t *testing.T) {
		targets := rollouttest.Hosts([]string{"eu", "jp"}, 1, 1)
		targets[0].Weight = 2
		f := newFleet(t, rollouttest.Config{
			Targets: targets,
			Traffic: rollouttest.Traffic{Noise: -1, Trough: 0.2, PeakHour: 12, Locations: map[string]*time.Location{"jp": tokyo}},
		})
		day := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		for _, tc := range []struct {
			id   string
			at   time.Time
			load float64
		}{
			{"eua-1", day.Add(12 * time.Hour), 1},
			{"eua-1", day, 0.2},
			{"eua-1", day.Add(6 * time.Hour), 0.6},
			{"jpa-1", day.Add(3 * time.Hour), 1}, // noon in Tokyo
			{"jpa-1", day.Add(15 * time.Hour), 0.2},
			{"nope", day, 0},
		} {
			if got := f.Load(tc.id, tc.at); math.Abs(got-tc.load) > 1e-12 {
				t.Errorf("Load(%s, %s) = %v, want %v", tc.id, tc.at.Format(time.Kitchen), got, tc.load)
			}
		}
		time.Sleep(13 * time.Hour)
		// At noon UTC the weight-2 European host serves 20 requests a
		// second at its peak; the Japanese one, at 21:00 local, 2 + 8*(1+cos(9h))/2.
		eu, _ := f.Served("eua-1", "", day.Add(12*time.Hour), day.Add(12*time.Hour+time.Minute))
		jp, _ := f.Served("jpa-1", "", day.Add(12*time.Hour), day.Add(12*time.Hour+time.Minute))
		if eu != 1200 {
			t.Errorf("eu served %d requests in the noon minute, want 1200", eu)
		}
		mid := 12*time.Hour + 30*time.Second // the minute's middle, 21:00:30 in Tokyo
		h := 9 + mid.Hours() - 12
		wantJP := math.Round(60 * 10 * (0.2 + 0.8*(1+math.Cos(2*math.Pi*h/24))/2))
		if float64(jp) != wantJP {
			t.Errorf("jp served %d requests in the noon minute, want %v", jp, wantJP)
		}
	})
}

func TestTrafficIsSeeded(t *testing.T) {
	series := func(seed uint64) []float64 {
		var out []float64
		synctest.Test(t, func(t *testing.T) {
			f := newFleet(t, rollouttest.Config{Seed: seed})
			time.Sleep(time.Hour)
			s, err := f.Query(t.Context(), `requests{target="r1a-1"}`, minutes(time.Now().Add(-time.Hour), 30))
			if err != nil {
				t.Fatal(err)
			}
			out = values(s)
		})
		return out
	}
	a, b, c := series(3), series(3), series(4)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("the same seed gave different traffic (-first +second):\n%s", diff)
	}
	if cmp.Equal(a, c) {
		t.Error("seeds 3 and 4 gave the same traffic")
	}
	// Midnight UTC: 10 rps * 0.25 of the peak (nearly: 14:00 is the peak)
	// * 60 s, about 157 a minute, with 5% noise.
	for i, v := range a {
		if v < 110 || v > 210 {
			t.Errorf("minute %d: %v requests, want about 157", i, v)
		}
	}
}

// TestRequestsAreAdditive checks a property of the counts: what a target
// served over [a, c) is what it served over [a, b) plus [b, c), whatever
// the cut and whatever it ran meanwhile.
func TestRequestsAreAdditive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFleet(t, rollouttest.Config{DeployTime: 17 * time.Second})
		start := time.Now()
		rng := rand.New(rand.NewPCG(1, 2))
		tg := target(f, "r1a-1")
		for i := range 20 {
			time.Sleep(time.Duration(rng.IntN(600)) * time.Second)
			if err := f.Deploy(t.Context(), tg, []string{"v1", "v2", "v3"}[i%3]); err != nil {
				t.Fatal(err)
			}
		}
		end := time.Now()
		span := end.Sub(start)
		for range 500 {
			a := start.Add(time.Duration(rng.Int64N(int64(span))))
			c := a.Add(time.Duration(rng.Int64N(int64(end.Sub(a)) + 1)))
			b := a.Add(time.Duration(rng.Int64N(int64(c.Sub(a)) + 1)))
			for _, v := range []string{"", "v1", "v2", "v3"} {
				whole, _ := f.Served(tg.ID, v, a, c)
				x, _ := f.Served(tg.ID, v, a, b)
				y, _ := f.Served(tg.ID, v, b, c)
				if whole != x+y {
					t.Fatalf("version %q: served %d over [%s, %s) but %d + %d cut at %s",
						v, whole, a.Sub(start), c.Sub(start), x, y, b.Sub(start))
				}
			}
			all, _ := f.Served(tg.ID, "", a, c)
			var sum int64
			for _, v := range []string{"v1", "v2", "v3"} {
				n, _ := f.Served(tg.ID, v, a, c)
				sum += n
			}
			if all != sum {
				t.Fatalf("over [%s, %s) the versions served %d, the target %d", a.Sub(start), c.Sub(start), sum, all)
			}
		}
	})
}

func TestEvidence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFleet(t, rollouttest.Config{Traffic: flat, Versions: map[string]rollouttest.Behavior{"v2": {ErrorRate: 0.1}}})
		start := time.Now()
		for _, id := range []string{"r1a-1", "r1a-2"} {
			if err := f.Deploy(t.Context(), target(f, id), "v2"); err != nil {
				t.Fatal(err)
			}
		}
		s := rollout.Subject{Version: "v2", Targets: []string{"r1a-1", "r1a-2", "r1b-1"}}
		reqs := []bake.Requirement{{Query: "requests", Min: 1}, {Query: "errors", Min: 1}}
		var last float64
		// Read every 90 seconds, as a bake would: each read counts the
		// whole span since the bake began.
		for i := 1; i <= 10; i++ {
			time.Sleep(90 * time.Second)
			ev, err := f.Evidence(t.Context(), s, reqs, start, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			want := float64(2 * 10 * 90 * i) // two targets on v2, 10 rps
			if ev[0] != want || ev[1] != want/10 {
				t.Errorf("read %d: %v requests and %v errors, want %v and %v", i, ev[0], ev[1], want, want/10)
			}
			last = ev[0]
		}
		// A bake that restarts counts from its new start.
		ev, err := f.Evidence(t.Context(), s, reqs, start.Add(10*time.Minute), time.Now())
		if err != nil || ev[0] != last-2*10*600 {
			t.Errorf("evidence from 10m: %v, %v; want %v requests", ev, err, last-2*10*600)
		}
		if _, err := f.Evidence(t.Context(), rollout.Subject{Version: "v2", Targets: []string{"nope"}}, reqs, start, time.Now()); !errors.Is(err, rollouttest.ErrUnknownTarget) {
			t.Errorf("unknown target: %v", err)
		}
		// Any other query is run as written, over the whole fleet, with
		// bake.Measure: eleven one-minute points over [start, start+10m],
		// the first covering the minute before the start.
		ev, err = f.Evidence(t.Context(), s, []bake.Requirement{{Query: `requests{region="r2"}`, Min: 1}}, start, start.Add(10*time.Minute))
		if err != nil || ev[0] != 11*4*600 {
			t.Errorf("requests of r2 over 10 minutes: %v, %v; want %v", ev, err, 11*4*600)
		}
	})
}

func TestBlast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFleet(t, rollouttest.Config{Traffic: flat, Versions: map[string]rollouttest.Behavior{"v2": {ErrorRate: 0.5}}})
		start := time.Now()
		a, b := target(f, "r1a-1"), target(f, "r2b-2")
		time.Sleep(10 * time.Minute)
		f.Deploy(t.Context(), a, "v2") // 10m
		time.Sleep(20 * time.Minute)
		f.Deploy(t.Context(), b, "v2") // 30m
		time.Sleep(10 * time.Minute)
		f.Rollback(t.Context(), a, "v1") // 40m
		time.Sleep(20 * time.Minute)     // 60m
		got := f.Blast("v2", start, time.Now())
		m := func(n int) time.Time { return start.Add(time.Duration(n) * time.Minute) }
		want := rollouttest.Blast{
			Version: "v2", Targets: []string{"r1a-1", "r2b-2"},
			// a for 30 minutes, b for 30: 600 requests a minute each.
			Requests: 36000, Errors: got.Errors, Total: 8 * 36000, Share: 0.125,
			First: m(10), Last: m(60), TargetTime: time.Hour,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("blast (-want +got):\n%s", diff)
		}
		if got.Errors < 16000 || got.Errors > 20000 {
			t.Errorf("%d errors of 36000 requests at 50%%", got.Errors)
		}
		if got.Exposure() != 50*time.Minute {
			t.Errorf("exposure %s, want 50m", got.Exposure())
		}
		// A span that starts later counts from its start.
		late := f.Blast("v2", m(35), m(45))
		if late.TargetTime != 15*time.Minute || late.First != m(35) || late.Last != m(45) {
			t.Errorf("blast over [35m, 45m): %s from %s to %s", late.TargetTime, late.First.Sub(start), late.Last.Sub(start))
		}
		if nb := f.Blast("v9", start, time.Now()); len(nb.Targets) != 0 || nb.Requests != 0 || nb.String() != "v9: ran nowhere" {
			t.Errorf("a version never deployed: %+v", nb)
		}
		if !strings.Contains(got.String(), "2 target(s), 36000 of 288000 requests (12.500%)") {
			t.Errorf("String() = %q", got.String())
		}
	})
}

// FuzzQuery checks that no query makes the source panic, and that every
// refusal is a bad query or a bad range.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{
		"requests", `error_rate{version="v2"}`, `latency_p99.9_seconds{region=r1,zone!=r1a}`,
		"requests{", `errors{target="r1a-1",,}`, "latency_p_seconds", "{}", `requests{version!=""}`,
	} {
		f.Add(s)
	}
	fleet, err := rollouttest.NewFleet(rollouttest.Config{Targets: rollouttest.Hosts([]string{"r1"}, 2, 1), Initial: "v1"})
	if err != nil {
		f.Fatal(err)
	}
	end := time.Now().Truncate(time.Minute)
	r := alarm.Range{Start: end.Add(-5 * time.Minute), End: end, Step: time.Minute}
	f.Fuzz(func(t *testing.T, q string) {
		s, err := fleet.Query(context.Background(), q, r)
		if err != nil {
			if !errors.Is(err, rollouttest.ErrBadQuery) {
				t.Fatalf("Query(%q) = %v, not a bad query", q, err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Query(%q) returned an invalid series: %v", q, err)
		}
		if len(s.Points) > 6 {
			t.Fatalf("Query(%q) returned %d points for 6 steps", q, len(s.Points))
		}
	})
}
