package blocker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // real zones on any machine, as the package doc advises

	"github.com/google/go-cmp/cmp"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func mustCalendar(t testing.TB, p Policy) *Calendar {
	t.Helper()
	c, err := NewCalendar(p)
	if err != nil {
		t.Fatalf("NewCalendar: %v", err)
	}
	return c
}

var (
	businessHours = []Window{{Days: []string{"Mon-Fri"}, Start: "09:00", End: "17:00"}}
	twoZones      = map[string]string{"us-east-1": "America/New_York", "eu-central-1": "Europe/Berlin"}
)

// TestCalendarNextOpen covers the acceptance cases: the DST days in
// America/New_York and Europe/Berlin, a Friday-afternoon rule, a holiday in
// one region but not another, a freeze spanning a weekend, and NextOpen
// across each. Every case also checks that the calendar is open at the
// instant NextOpen returns and closed one second before (unless open now).
func TestCalendarNextOpen(t *testing.T) {
	ny := Policy{Zone: "America/New_York"}
	berlin := Policy{Zone: "Europe/Berlin"}
	with := func(p Policy, f func(*Policy)) Policy { f(&p); return p }

	tests := []struct {
		name    string
		policy  Policy
		regions []string
		now     string
		blocked bool
		reason  string // substring of the decision's reason
		next    string
	}{
		// America/New_York, spring forward: 2025-03-09 02:00 EST -> 03:00 EDT.
		{
			name:   "NY spring: a window starting in the gap opens when the gap ends",
			policy: with(ny, func(p *Policy) { p.Windows = []Window{{Days: []string{"Sun"}, Start: "02:30", End: "04:00"}} }),
			now:    "2025-03-09T06:50:00Z", blocked: true, // 01:50 EST
			reason: "Sun 2025-03-09 01:50 EST",
			next:   "2025-03-09T07:00:00Z", // 03:00 EDT
		},
		{
			name:   "NY spring: a window ending in the gap closes when the gap begins",
			policy: with(ny, func(p *Policy) { p.Windows = []Window{{Days: []string{"Sun"}, End: "02:30"}} }),
			now:    "2025-03-09T07:00:00Z", blocked: true, // 03:00 EDT
			next: "2025-03-16T04:00:00Z", // next Sunday 00:00 EDT
		},
		{
			name:   "NY spring: open until the last second before the gap",
			policy: with(ny, func(p *Policy) { p.Windows = []Window{{Days: []string{"Sun"}, End: "02:30"}} }),
			now:    "2025-03-09T06:59:59Z", // 01:59:59 EST
			next:   "2025-03-09T06:59:59Z",
		},
		{
			name:   "NY spring: business hours across the DST weekend open at 09:00 EDT",
			policy: with(ny, func(p *Policy) { p.Windows = businessHours }),
			now:    "2025-03-08T15:00:00Z", blocked: true, // Sat 10:00 EST
			reason: "outside the allowed windows (Mon-Fri 09:00-17:00)",
			next:   "2025-03-10T13:00:00Z", // Mon 09:00 EDT, not 14:00Z
		},
		// America/New_York, fall back: 2025-11-02 02:00 EDT -> 01:00 EST.
		{
			name:   "NY fall: a deny rule over the repeated hour blocks both occurrences",
			policy: with(ny, func(p *Policy) { p.Deny = []Window{{Start: "01:00", End: "02:00"}} }),
			now:    "2025-11-02T05:00:00Z", blocked: true, // 01:00 EDT
			reason: "denied by every day 01:00-02:00",
			next:   "2025-11-02T07:00:00Z", // 02:00 EST, two real hours later
		},
		{
			name:   "NY fall: second occurrence of the repeated hour is denied too",
			policy: with(ny, func(p *Policy) { p.Deny = []Window{{Start: "01:00", End: "02:00"}} }),
			now:    "2025-11-02T06:30:00Z", blocked: true, // 01:30 EST
			reason: "Sun 2025-11-02 01:30 EST",
			next:   "2025-11-02T07:00:00Z",
		},
		{
			name:   "NY fall: a window inside the repeated hour opens twice",
			policy: with(ny, func(p *Policy) { p.Windows = []Window{{Days: []string{"Sun"}, Start: "01:30", End: "02:00"}} }),
			now:    "2025-11-02T06:00:00Z", blocked: true, // 01:00 EST, after the first occurrence
			next: "2025-11-02T06:30:00Z", // 01:30 EST
		},
		{
			name:   "NY fall: first occurrence of a window in the repeated hour is open",
			policy: with(ny, func(p *Policy) { p.Windows = []Window{{Days: []string{"Sun"}, Start: "01:30", End: "02:00"}} }),
			now:    "2025-11-02T05:45:00Z", // 01:45 EDT
			next:   "2025-11-02T05:45:00Z",
		},
		{
			name:   "NY fall: business hours across the DST weekend open at 09:00 EST",
			policy: with(ny, func(p *Policy) { p.Windows = businessHours }),
			now:    "2025-10-31T21:30:00Z", blocked: true, // Fri 17:30 EDT
			next: "2025-11-03T14:00:00Z", // Mon 09:00 EST
		},
		// Europe/Berlin, spring forward: 2025-03-30 02:00 CET -> 03:00 CEST.
		{
			name:   "Berlin spring: a window starting in the gap opens when the gap ends",
			policy: with(berlin, func(p *Policy) { p.Windows = []Window{{Days: []string{"Sun"}, Start: "02:30", End: "04:00"}} }),
			now:    "2025-03-30T00:50:00Z", blocked: true, // 01:50 CET
			next: "2025-03-30T01:00:00Z", // 03:00 CEST
		},
		{
			name:   "Berlin spring: business hours across the DST weekend open at 09:00 CEST",
			policy: with(berlin, func(p *Policy) { p.Windows = businessHours }),
			now:    "2025-03-28T16:30:00Z", blocked: true, // Fri 17:30 CET
			next: "2025-03-31T07:00:00Z", // Mon 09:00 CEST
		},
		// Europe/Berlin, fall back: 2025-10-26 03:00 CEST -> 02:00 CET.
		{
			name:   "Berlin fall: a deny rule over the repeated hour blocks two real hours",
			policy: with(berlin, func(p *Policy) { p.Deny = []Window{{Start: "02:00", End: "03:00"}} }),
			now:    "2025-10-26T00:00:00Z", blocked: true, // 02:00 CEST
			next: "2025-10-26T02:00:00Z", // 03:00 CET
		},
		{
			name:   "Berlin fall: second occurrence of the repeated hour",
			policy: with(berlin, func(p *Policy) { p.Deny = []Window{{Start: "02:00", End: "03:00"}} }),
			now:    "2025-10-26T01:30:00Z", blocked: true, // 02:30 CET
			reason: "Sun 2025-10-26 02:30 CET",
			next:   "2025-10-26T02:00:00Z",
		},
		{
			name:   "Berlin fall: business hours across the DST weekend open at 09:00 CET",
			policy: with(berlin, func(p *Policy) { p.Windows = businessHours }),
			now:    "2025-10-24T15:30:00Z", blocked: true, // Fri 17:30 CEST
			next: "2025-10-27T08:00:00Z", // Mon 09:00 CET
		},
		// Friday afternoon.
		{
			name: "Friday afternoon: not after 15:00 on Fridays",
			policy: with(ny, func(p *Policy) {
				p.Windows = businessHours
				p.Deny = []Window{{Days: []string{"Fri"}, Start: "15:00"}}
			}),
			now: "2025-06-13T19:30:00Z", blocked: true, // Fri 15:30 EDT
			reason: "denied by Fri 15:00-24:00",
			next:   "2025-06-16T13:00:00Z", // Mon 09:00 EDT
		},
		{
			name: "Friday afternoon: open before 15:00",
			policy: with(ny, func(p *Policy) {
				p.Windows = businessHours
				p.Deny = []Window{{Days: []string{"Fri"}, Start: "15:00"}}
			}),
			now:  "2025-06-13T18:59:00Z", // Fri 14:59 EDT
			next: "2025-06-13T18:59:00Z",
		},
		{
			name: "Friday afternoon: Thursday afternoon is open",
			policy: with(ny, func(p *Policy) {
				p.Windows = businessHours
				p.Deny = []Window{{Days: []string{"Fri"}, Start: "15:00"}}
			}),
			now:  "2025-06-12T20:00:00Z", // Thu 16:00 EDT
			next: "2025-06-12T20:00:00Z",
		},
		// A holiday in one region but not another.
		{
			name:    "holiday: German Unity Day blocks eu-central-1",
			policy:  unityDay(),
			regions: []string{"eu-central-1"},
			now:     "2025-10-03T14:30:00Z", blocked: true, // Fri 16:30 CEST
			reason: `holiday "Tag der Deutschen Einheit" on 2025-10-03`,
			next:   "2025-10-06T07:00:00Z", // Mon 09:00 CEST
		},
		{
			name:    "holiday: us-east-1 is open on the same day",
			policy:  unityDay(),
			regions: []string{"us-east-1"},
			now:     "2025-10-03T14:30:00Z", // Fri 10:30 EDT
			next:    "2025-10-03T14:30:00Z",
		},
		{
			name:    "holiday: a stage in both regions waits until both are open",
			policy:  unityDay(),
			regions: []string{"us-east-1", "eu-central-1"},
			now:     "2025-10-03T14:30:00Z", blocked: true,
			reason: "eu-central-1 (Fri 2025-10-03 16:30 CEST): holiday",
			next:   "2025-10-06T13:00:00Z", // Mon 09:00 EDT = 15:00 CEST
		},
		{
			name:    "holiday: Thanksgiving blocks us-east-1 on its local date only",
			policy:  unityDay(),
			regions: []string{"us-east-1"},
			now:     "2025-11-27T15:00:00Z", blocked: true, // Thu 10:00 EST
			reason: `holiday "Thanksgiving Day" on 2025-11-27`,
			next:   "2025-11-28T14:00:00Z", // Fri 09:00 EST
		},
		{
			name:    "holiday: Thanksgiving leaves eu-central-1 open",
			policy:  unityDay(),
			regions: []string{"eu-central-1"},
			now:     "2025-11-27T09:00:00Z", // Thu 10:00 CET
			next:    "2025-11-27T09:00:00Z",
		},
		// A freeze spanning a weekend.
		{
			name:    "freeze: us-east-1 opens when the freeze ends, inside its window",
			policy:  salesFreeze(),
			regions: []string{"us-east-1"},
			now:     "2025-11-28T15:00:00Z", blocked: true, // Fri 10:00 EST
			reason: `freeze "sales event" until 2025-12-01T17:00:00Z`,
			next:   "2025-12-01T17:00:00Z", // Mon 12:00 EST
		},
		{
			name:    "freeze: eu-central-1 ends the freeze after hours and opens on Tuesday",
			policy:  salesFreeze(),
			regions: []string{"eu-central-1"},
			now:     "2025-11-29T12:00:00Z", blocked: true, // Sat 13:00 CET
			reason: "freeze",
			next:   "2025-12-02T08:00:00Z", // Tue 09:00 CET
		},
		{
			name:    "freeze: both regions open together on Tuesday",
			policy:  salesFreeze(),
			regions: []string{"us-east-1", "eu-central-1"},
			now:     "2025-11-28T15:00:00Z", blocked: true,
			next: "2025-12-02T14:00:00Z", // Tue 09:00 EST = 15:00 CET
		},
		{
			name:    "freeze: a region it does not name is not frozen",
			policy:  with(salesFreeze(), func(p *Policy) { p.Freezes[0].Regions = []string{"eu-central-1"} }),
			regions: []string{"us-east-1"},
			now:     "2025-11-28T15:00:00Z",
			next:    "2025-11-28T15:00:00Z",
		},
		// Regions with no common open time on a day wait for the overlap.
		{
			name:    "two zones: the overlap of business hours",
			policy:  Policy{Zones: twoZones, Windows: businessHours},
			regions: []string{"us-east-1", "eu-central-1"},
			now:     "2025-06-16T07:00:00Z", blocked: true, // Mon 03:00 EDT, 09:00 CEST
			reason: "us-east-1 (Mon 2025-06-16 03:00 EDT): outside",
			next:   "2025-06-16T13:00:00Z", // 09:00 EDT = 15:00 CEST
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cal := mustCalendar(t, tt.policy)
			s := Subject{Regions: tt.regions}
			now := utc(tt.now)
			d, err := cal.Check(context.Background(), s, now)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if d.Blocked != tt.blocked {
				t.Errorf("Check(%s).Blocked = %v, want %v (%s)", tt.now, d.Blocked, tt.blocked, d.Reason)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("Check(%s).Reason = %q, want it to contain %q", tt.now, d.Reason, tt.reason)
			}
			next, err := cal.NextOpen(s, now)
			if err != nil {
				t.Fatalf("NextOpen: %v", err)
			}
			if want := utc(tt.next); !next.Equal(want) {
				t.Errorf("NextOpen(%s) = %s, want %s", tt.now, next.UTC().Format(time.RFC3339), tt.next)
			}
			if tt.blocked && !d.Until.Equal(next) {
				t.Errorf("Decision.Until = %s, want NextOpen %s", d.Until, next)
			}
			if !tt.blocked && !d.Until.IsZero() {
				t.Errorf("clear Decision.Until = %s, want zero", d.Until)
			}
			if at, _ := cal.Check(context.Background(), s, next); at.Blocked {
				t.Errorf("blocked at NextOpen %s: %s", next.UTC().Format(time.RFC3339), at.Reason)
			}
			if tt.blocked {
				if before, _ := cal.Check(context.Background(), s, next.Add(-time.Second)); !before.Blocked {
					t.Errorf("open one second before NextOpen %s", next.UTC().Format(time.RFC3339))
				}
			}
		})
	}
}

func unityDay() Policy {
	return Policy{
		Zones:   twoZones,
		Windows: businessHours,
		Holidays: []Holiday{
			{Date: "2025-10-03", Name: "Tag der Deutschen Einheit", Regions: []string{"eu-central-1"}},
			{Date: "2025-11-27", Name: "Thanksgiving Day", Regions: []string{"us-east-1"}},
		},
	}
}

func salesFreeze() Policy {
	return Policy{
		Zones:   twoZones,
		Windows: businessHours,
		Freezes: []Freeze{{Start: utc("2025-11-27T17:00:00Z"), End: utc("2025-12-01T17:00:00Z"), Reason: "sales event"}},
	}
}

func TestCalendarRegions(t *testing.T) {
	ctx := context.Background()
	now := utc("2025-06-14T12:00:00Z") // Saturday
	t.Run("region without a zone fails", func(t *testing.T) {
		cal := mustCalendar(t, Policy{Zones: twoZones, Windows: businessHours})
		_, err := cal.Check(ctx, Subject{Regions: []string{"ap-south-1"}}, now)
		if !errors.Is(err, ErrNoZone) {
			t.Fatalf("Check err = %v, want ErrNoZone", err)
		}
		if _, err := cal.NextOpen(Subject{Regions: []string{"ap-south-1"}}, now); !errors.Is(err, ErrNoZone) {
			t.Fatalf("NextOpen err = %v, want ErrNoZone", err)
		}
		if _, err := cal.Check(ctx, Subject{}, now); !errors.Is(err, ErrNoZone) {
			t.Fatalf("Check(no regions) err = %v, want ErrNoZone", err)
		}
	})
	t.Run("default zone judges unlisted regions", func(t *testing.T) {
		cal := mustCalendar(t, Policy{Zone: "Asia/Tokyo", Zones: twoZones, Windows: businessHours})
		d, err := cal.Check(ctx, Subject{Regions: []string{"ap-northeast-1"}}, now)
		if err != nil || !d.Blocked || !strings.Contains(d.Reason, "JST") {
			t.Fatalf("Check = %+v, %v; want blocked in JST", d, err)
		}
		if want := utc("2025-06-16T00:00:00Z"); !d.Until.Equal(want) { // Mon 09:00 JST
			t.Errorf("Until = %s, want %s", d.Until, want)
		}
	})
	t.Run("zero policy is always open in UTC", func(t *testing.T) {
		cal := mustCalendar(t, Policy{})
		d, err := cal.Check(ctx, Subject{}, now)
		if err != nil || d.Blocked || d.Reason != "open in UTC (Sat 2025-06-14 12:00 UTC)" {
			t.Fatalf("Check = %+v, %v", d, err)
		}
	})
	t.Run("Regions limits the policy", func(t *testing.T) {
		cal := mustCalendar(t, Policy{Zones: twoZones, Regions: []string{"eu-central-1"}, Windows: businessHours})
		d, err := cal.Check(ctx, Subject{Regions: []string{"us-east-1"}}, now)
		if err != nil || d.Blocked {
			t.Fatalf("ungoverned region: %+v, %v; want clear", d, err)
		}
		d, err = cal.Check(ctx, Subject{}, now)
		if err != nil || d.Blocked {
			t.Fatalf("no regions: %+v, %v; want clear", d, err)
		}
		d, err = cal.Check(ctx, Subject{Regions: []string{"us-east-1", "eu-central-1", "eu-central-1"}}, now)
		if err != nil || !d.Blocked || strings.Contains(d.Reason, "us-east-1") || strings.Count(d.Reason, "eu-central-1") != 1 {
			t.Fatalf("governed region: %+v, %v; want blocked by eu-central-1 once", d, err)
		}
	})
	t.Run("never opens within the horizon", func(t *testing.T) {
		cal := mustCalendar(t, Policy{Freezes: []Freeze{{Start: now.Add(-time.Hour), End: now.AddDate(2, 0, 0), Reason: "forever"}}})
		_, err := cal.NextOpen(Subject{}, now)
		if !errors.Is(err, ErrNeverOpen) {
			t.Fatalf("NextOpen err = %v, want ErrNeverOpen", err)
		}
		d, err := cal.Check(ctx, Subject{}, now)
		if err != nil || !d.Blocked || !d.Until.IsZero() || !d.Never || !strings.Contains(d.Reason, "does not open within 366 days") {
			t.Fatalf("Check = %+v, %v", d, err)
		}
	})
	t.Run("a subject without regions is held by region-scoped holidays and freezes", func(t *testing.T) {
		cal := mustCalendar(t, Policy{Holidays: []Holiday{{Date: "2025-06-14", Regions: []string{"x"}}}})
		d, err := cal.Check(ctx, Subject{}, now)
		if err != nil || !d.Blocked || d.Reason != "UTC (Sat 2025-06-14 12:00 UTC): holiday on 2025-06-14 until 2025-06-15T00:00:00Z" {
			t.Fatalf("Check = %+v, %v", d, err)
		}
		if diff := cmp.Diff(utc("2025-06-15T00:00:00Z"), d.Until); diff != "" {
			t.Errorf("Until (-want +got):\n%s", diff)
		}
	})
}

// TestLocalFreeze checks a company freeze written once in local dates: it
// starts and ends at local midnight in each region, Sydney a day of
// instants before New York, and the decision names the freeze and when it
// ends in each region.
func TestLocalFreeze(t *testing.T) {
	ctx := context.Background()
	cal := mustCalendar(t, Policy{
		Zones:   map[string]string{"us-east-1": "America/New_York", "ap-southeast-2": "Australia/Sydney"},
		Freezes: []Freeze{{From: "2025-12-24", Through: "2025-12-26", Reason: "holiday freeze"}},
	})
	both := Subject{Regions: []string{"us-east-1", "ap-southeast-2"}}
	tests := []struct {
		name string
		now  time.Time
		s    Subject
		want Decision
	}{
		{
			name: "before: open everywhere",
			now:  utc("2025-12-23T12:00:00Z"), // 23 Dec 07:00 in New York, 23:00 in Sydney
			s:    both,
			want: Decision{Reason: "open in us-east-1 (Tue 2025-12-23 07:00 EST), ap-southeast-2 (Tue 2025-12-23 23:00 AEDT)"},
		},
		{
			name: "Sydney is frozen first",
			now:  utc("2025-12-23T14:00:00Z"), // 24 Dec 01:00 in Sydney
			s:    both,
			want: Decision{
				Blocked: true,
				Reason:  `ap-southeast-2 (Wed 2025-12-24 01:00 AEDT): freeze "holiday freeze" through 2025-12-26 (local dates from 2025-12-24) until 2025-12-26T13:00:00Z`,
				// Both regions are open again only when New York's 26
				// December ends.
				Until: utc("2025-12-27T05:00:00Z"),
				Holds: []Hold{{Kind: HoldFreeze, Name: "holiday freeze", Region: "ap-southeast-2", Until: utc("2025-12-26T13:00:00Z")}},
			},
		},
		{
			name: "New York alone, on its last day",
			now:  utc("2025-12-27T04:59:00Z"), // 26 Dec 23:59 in New York
			s:    Subject{Regions: []string{"us-east-1"}},
			want: Decision{
				Blocked: true,
				Reason:  `us-east-1 (Fri 2025-12-26 23:59 EST): freeze "holiday freeze" through 2025-12-26 (local dates from 2025-12-24) until 2025-12-27T05:00:00Z`,
				Until:   utc("2025-12-27T05:00:00Z"),
				Holds:   []Hold{{Kind: HoldFreeze, Name: "holiday freeze", Region: "us-east-1", Until: utc("2025-12-27T05:00:00Z")}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := cal.Check(ctx, tt.s, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, d); diff != "" {
				t.Errorf("Check (-want +got):\n%s", diff)
			}
		})
	}

	// A freeze of local dates that ends on a day whose midnight does not
	// exist: Santiago springs forward from 00:00 to 01:00 on 7 September
	// 2025, so the freeze ends at 04:00 UTC, when the local date turns.
	cal = mustCalendar(t, Policy{Zone: "America/Santiago", Freezes: []Freeze{{From: "2025-09-05", Through: "2025-09-06", Reason: "fiestas"}}})
	d, err := cal.Check(ctx, Subject{}, utc("2025-09-06T12:00:00Z"))
	if err != nil || len(d.Holds) != 1 || !d.Holds[0].Until.Equal(utc("2025-09-07T04:00:00Z")) || !d.Until.Equal(utc("2025-09-07T04:00:00Z")) {
		t.Errorf("Santiago: Check = %+v, %v; want held until 2025-09-07T04:00:00Z", d, err)
	}
}
