package blocker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
)

// benchSet is 20 blockers of the three kinds: 8 calendars (business hours
// in each region's zone, a Friday rule, holidays and a freeze), 8 alarm
// blockers of 3 alarms each, read from an in-memory source, and 4
// switchboards with a few switches scoped elsewhere.
func benchSet(b *testing.B, now time.Time, start, end string) Set {
	ctx := context.Background()
	var s Set
	zones := map[string]string{"us-east-1": "America/New_York", "eu-central-1": "Europe/Berlin", "ap-northeast-1": "Asia/Tokyo"}
	for i := range 8 {
		cal, err := NewCalendar(Policy{
			Zones:    zones,
			Windows:  []Window{{Days: []string{"Mon-Fri"}, Start: start, End: end}},
			Deny:     []Window{{Days: []string{"Fri"}, Start: "15:00"}},
			Holidays: []Holiday{{Date: "2025-12-25"}, {Date: "2025-10-03", Regions: []string{"eu-central-1"}}},
			Freezes:  []Freeze{{Start: now.AddDate(0, 1, i), End: now.AddDate(0, 1, i+3), Reason: "event"}},
		})
		if err != nil {
			b.Fatal(err)
		}
		s.Entries = append(s.Entries, Entry{Name: fmt.Sprintf("window-%d", i), Blocker: cal})
	}
	mem := &alarm.Memory{}
	for i := range 8 {
		var watch []Alarm
		for j := range 3 {
			q := fmt.Sprintf("errors-%d-%d", i, j)
			mem.Record(q, now.Add(-time.Minute), 0.1, 1000)
			watch = append(watch, Alarm{Name: q, Checker: alarm.CheckerFunc(func(ctx context.Context, now time.Time) (alarm.Result, error) {
				series, err := mem.Query(ctx, q, alarm.Range{Start: now.Add(-5 * time.Minute), End: now, Step: time.Minute})
				if err != nil {
					return alarm.Result{}, err
				}
				if len(series.Points) == 0 {
					return alarm.Result{State: alarm.InsufficientData, Reason: "no points"}, nil
				}
				if series.Points[len(series.Points)-1].Value > 1 {
					return alarm.Result{State: alarm.Alarm, Reason: "error rate above 1%"}, nil
				}
				return alarm.Result{State: alarm.OK}, nil
			})})
		}
		s.Entries = append(s.Entries, Entry{Name: fmt.Sprintf("alarms-%d", i), Blocker: Alarms{Watch: watch, BlockInsufficientData: true}})
	}
	for i := range 4 {
		board := &Switchboard{}
		for j := range 3 {
			if _, err := board.Set(ctx, Switch{Scope: Scope{Service: fmt.Sprintf("other-%d", j)}, Actor: "a", Reason: "r"}, now); err != nil {
				b.Fatal(err)
			}
		}
		s.Entries = append(s.Entries, Entry{Name: fmt.Sprintf("switches-%d", i), Blocker: board})
	}
	return s
}

// BenchmarkSet20 evaluates a set of 20 blockers for one stage in three
// regions (New York, Berlin, Tokyo) with windows 06:00-22:00 local, which
// overlap from 10:00 to 13:00 UTC: on a Tuesday at 12:00 UTC every blocker
// clears; on a Saturday the 8 calendars block and each computes the next
// time all three regions are open (Monday 10:00 UTC). The worst case is a
// policy that never opens: with windows 08:00-20:00 the three regions never
// overlap, and each calendar searches its whole 366-day horizon.
func BenchmarkSet20(b *testing.B) {
	subj := Subject{Change: "c-1", Service: "api", Regions: []string{"us-east-1", "eu-central-1", "ap-northeast-1"}}
	for _, bc := range []struct {
		name       string
		now        time.Time
		start, end string
		blocked    bool
	}{
		{"clear", utc("2025-06-17T12:00:00Z"), "06:00", "22:00", false},
		{"blocked-weekend", utc("2025-06-14T12:00:00Z"), "06:00", "22:00", true},
		{"never-opens", utc("2025-06-17T12:00:00Z"), "08:00", "20:00", true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := benchSet(b, bc.now, bc.start, bc.end)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				v, err := s.Check(ctx, subj, bc.now)
				if err != nil || v.Blocked != bc.blocked || bc.name == "blocked-weekend" && !v.Until.Equal(utc("2025-06-16T10:00:00Z")) {
					b.Fatalf("verdict %s, %v", v, err)
				}
			}
		})
	}
}
