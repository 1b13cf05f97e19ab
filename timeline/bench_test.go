package timeline

import (
	"fmt"
	"io"
	"testing"
	"time"
)

// bigTimeline is a large rollout: 100 stages in 6 waves, each blocked,
// deployed, baked, with an alarm and a verdict; 400 spans and 200 marks.
func bigTimeline() *Timeline {
	tl := &Timeline{Title: "fleet-wide change"}
	at := t0
	for i := 0; i < 100; i++ {
		name := fmt.Sprintf("w%d/region-%02d/zone-%d", i/17+1, i, i%3)
		group := fmt.Sprintf("wave %d", i/17+1)
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		must(tl.Open(name, Waiting, at, ""))
		if tl.Row(name).Group == "" {
			tl.Row(name).Group = group
		}
		must(tl.Open(name, Blocked, at.Add(5*time.Minute), "outside the window"))
		must(tl.Open(name, Deploying, at.Add(20*time.Minute), "3 batches"))
		must(tl.Open(name, Baking, at.Add(50*time.Minute), "bake 2h"))
		must(tl.AddMark(name, Mark{Kind: Alarm, Time: at.Add(90 * time.Minute), Label: "p99 latency", Severity: Warning}))
		must(tl.AddMark(name, Mark{Kind: Verdict, Time: at.Add(170 * time.Minute), Label: "pass"}))
		must(tl.Finish(name, at.Add(170*time.Minute), Succeeded))
		at = at.Add(170 * time.Minute)
	}
	return tl
}

func BenchmarkWriteSVG(b *testing.B) {
	tl := bigTimeline()
	b.ReportAllocs()
	for b.Loop() {
		if err := tl.WriteSVG(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteHTML(b *testing.B) {
	tl := bigTimeline()
	b.ReportAllocs()
	for b.Loop() {
		if err := tl.WriteHTML(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteText(b *testing.B) {
	tl := bigTimeline()
	b.ReportAllocs()
	for b.Loop() {
		if err := tl.WriteText(io.Discard, 0); err != nil {
			b.Fatal(err)
		}
	}
}
