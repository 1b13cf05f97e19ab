package rollouttest

import (
	"fmt"
	"sort"
	"time"
)

// Blast is the blast radius of a version over a span of time: who ran it,
// how much traffic it served, and for how long. It is what a rollout
// policy exists to keep small.
type Blast struct {
	// Version is the version measured.
	Version string
	// Targets are the IDs of the targets that ran the version at some
	// time in the span, in the order they got it.
	Targets []string
	// Requests is the number of requests the version served, Errors how
	// many of them failed.
	Requests, Errors int64
	// Total is the number of requests the whole fleet served in the
	// span.
	Total int64
	// Share is Requests/Total: the version's share of the traffic.
	Share float64
	// First and Last bound the time the version served: from the first
	// target switching to it to the last one switching away (or the end
	// of the span). Both are zero when it never ran.
	First, Last time.Time
	// TargetTime is the time the version ran, summed over targets: one
	// box for an hour and sixty boxes for a minute both make an hour.
	TargetTime time.Duration
}

// Exposure is how long the version served anywhere: Last - First.
func (b Blast) Exposure() time.Duration { return b.Last.Sub(b.First) }

// String summarises the blast radius in one line.
func (b Blast) String() string {
	if len(b.Targets) == 0 {
		return fmt.Sprintf("%s: ran nowhere", b.Version)
	}
	return fmt.Sprintf("%s: %d target(s), %d of %d requests (%.3f%%), %d errors, for %s (%s of target time)",
		b.Version, len(b.Targets), b.Requests, b.Total, 100*b.Share, b.Errors, b.Exposure(), b.TargetTime)
}

// Blast measures the blast radius of version between from and to (to
// excluded), from the fleet's record of changes and its traffic. A
// version that ran before from (the initial version, say) counts from
// from.
func (f *Fleet) Blast(version string, from, to time.Time) Blast {
	b := Blast{Version: version}
	if !to.After(from) || from.IsZero() {
		return b
	}
	a, z := ns(from), ns(to)
	type first struct {
		id string
		at int64
	}
	var got []first
	for i, t := range f.targets {
		h := f.history(i)
		on := int64(-1)
		for j, s := range h {
			s0, s1 := ns(s.from), z
			if j+1 < len(h) {
				s1 = ns(h[j+1].from)
			}
			s0, s1 = max(s0, a), min(s1, z)
			if s.version != version || s0 >= s1 {
				continue
			}
			if on < 0 {
				on = s0
			}
			b.TargetTime += time.Duration(s1 - s0)
			if b.First.IsZero() || s0 < b.First.UnixNano() {
				b.First = time.Unix(0, s0)
			}
			if s1 > ns(b.Last) {
				b.Last = time.Unix(0, s1)
			}
		}
		if on >= 0 {
			got = append(got, first{t.ID, on})
		}
		f.serve(i, h, a, z, nil, func(v string, p part) {
			b.Total += p.requests
			if v == version {
				b.Requests += p.requests
				b.Errors += p.errors
			}
		})
	}
	sort.SliceStable(got, func(x, y int) bool { return got[x].at < got[y].at })
	for _, g := range got {
		b.Targets = append(b.Targets, g.id)
	}
	if b.Total > 0 {
		b.Share = float64(b.Requests) / float64(b.Total)
	}
	if !b.First.IsZero() {
		b.First = b.First.In(from.Location())
		b.Last = b.Last.In(from.Location())
	}
	return b
}
