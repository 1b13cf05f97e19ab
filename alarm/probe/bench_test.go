package probe

import (
	"context"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
)

// dayOfResults is a prober holding 24 hours of results of one endpoint at
// the default interval (10s): 8,640 results in 1,440 one-minute periods.
func dayOfResults(b *testing.B) (*Prober, time.Time) {
	p, err := New(Policy{Endpoints: []Endpoint{{Name: "e", URL: "http://x.test/"}}})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 8640; i++ {
		r := Result{Endpoint: "e", Time: start.Add(time.Duration(i) * 10 * time.Second), Latency: time.Duration(50+i%97) * time.Millisecond, Status: 200}
		if i%50 == 0 {
			r.Status, r.Err = 503, &StatusError{Endpoint: "e", Status: 503, Want: "2xx"}
		}
		if err := p.Record(r); err != nil {
			b.Fatal(err)
		}
	}
	return p, start
}

func BenchmarkRecord(b *testing.B) {
	p, start := dayOfResults(b)
	t := start.Add(24 * time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		t = t.Add(10 * time.Second)
		if err := p.Record(Result{Endpoint: "e", Time: t, Latency: 80 * time.Millisecond, Status: 200}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQuery is what an alarm rule asks on every evaluation: the last
// ten one-minute points.
func BenchmarkQuery(b *testing.B) {
	p, start := dayOfResults(b)
	end := start.Add(24 * time.Hour)
	for _, q := range []string{"probe:e:success_rate", "probe:e:latency_p99_seconds"} {
		b.Run(q, func(b *testing.B) {
			r := alarm.Range{Start: end.Add(-10 * time.Minute), End: end, Step: time.Minute}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Query(context.Background(), q, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkQueryDay aggregates the whole day into five-minute points.
func BenchmarkQueryDay(b *testing.B) {
	p, start := dayOfResults(b)
	r := alarm.Range{Start: start, End: start.Add(24 * time.Hour), Step: 5 * time.Minute}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Query(context.Background(), "probe:e:latency_p99_seconds", r); err != nil {
			b.Fatal(err)
		}
	}
}
