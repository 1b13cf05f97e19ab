package blocker

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shepherd-go/shepherd/duration"
)

// problemsOf splits a joined validation error into its messages.
func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			var fe *FieldError
			if !errors.As(e, &fe) {
				t.Errorf("problem %q is not a *FieldError", e)
			}
			if !errors.Is(e, ErrInvalid) {
				t.Errorf("problem %q does not wrap ErrInvalid", e)
			}
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

func TestPolicyValidate(t *testing.T) {
	start := utc("2025-12-01T00:00:00Z")
	tests := []struct {
		name   string
		policy Policy
		want   []string
	}{
		{name: "zero policy", policy: Policy{}},
		{
			name:   "unknown time zone",
			policy: Policy{Zone: "Mars/Olympus_Mons"},
			want:   []string{`blocker: policy.Zone: unknown time zone "Mars/Olympus_Mons"`},
		},
		{
			name:   "unknown region zone and empty names",
			policy: Policy{Zone: "UTC", Zones: map[string]string{"eu-west-1": "Europe/Dublinn", "": "UTC"}},
			want: []string{
				`blocker: policy.Zones[""]: empty region name`,
				`blocker: policy.Zones["eu-west-1"]: unknown time zone "Europe/Dublinn"`,
			},
		},
		{
			name:   "the machine's zone is not a policy zone",
			policy: Policy{Zone: "Local"},
			want:   []string{`blocker: policy.Zone: "Local" is the machine's zone, not an IANA zone`},
		},
		{
			name:   "hour 25",
			policy: Policy{Windows: []Window{{Start: "09:00", End: "25:00"}}},
			want:   []string{`blocker: policy.Windows[0].End: "25:00": hour 25 is outside 0-24`},
		},
		{
			name: "bad clocks and days",
			policy: Policy{Deny: []Window{
				{Days: []string{"Fri", "Funday"}, Start: "9", End: "10:60"},
				{Start: "24:00"},
				{End: "24:30"},
			}},
			want: []string{
				`blocker: policy.Deny[0].Days[1]: "Funday" is not a weekday (Mon, Tuesday, Sat-Sun ...)`,
				`blocker: policy.Deny[0].Start: "9" is not a time of day HH:MM`,
				`blocker: policy.Deny[0].End: "10:60": minute 60 is outside 0-59`,
				`blocker: policy.Deny[1].Start: "24:00": a window cannot start at 24:00`,
				`blocker: policy.Deny[2].End: "24:30": 24:00 is the latest time of day`,
			},
		},
		{
			name:   "window end before start",
			policy: Policy{Windows: []Window{{Start: "17:00", End: "09:00"}, {Start: "10:00", End: "10:00"}}},
			want: []string{
				`blocker: policy.Windows[0].End: 09:00 is not after Start 17:00 (a window cannot cross midnight; split it in two)`,
				`blocker: policy.Windows[1].End: 10:00 is not after Start 10:00 (a window cannot cross midnight; split it in two)`,
			},
		},
		{
			name: "freeze end before start, missing fields",
			policy: Policy{Freezes: []Freeze{
				{Start: start, End: start.Add(-time.Hour), Reason: "x"},
				{End: start},
				{Start: start, Reason: "y", Regions: []string{""}},
			}},
			want: []string{
				`blocker: policy.Freezes[0].End: 2025-11-30T23:00:00Z is not after Start 2025-12-01T00:00:00Z`,
				`blocker: policy.Freezes[1].Start: not set: give Start and End (instants) or From and Through (local dates)`,
				`blocker: policy.Freezes[1].Reason: empty: a freeze must say why`,
				`blocker: policy.Freezes[2].End: not set`,
				`blocker: policy.Freezes[2].Regions[0]: empty region name`,
			},
		},
		{
			name: "freezes of local dates",
			policy: Policy{Freezes: []Freeze{
				{From: "2025-12-22", Through: "2026-01-02", Reason: "year end"},
				{From: "2025-12-24", Through: "2025-12-24", Reason: "one day", Regions: []string{"eu-west-1"}},
			}},
		},
		{
			name: "bad freezes of local dates",
			policy: Policy{Freezes: []Freeze{
				{From: "2025-12-22", Through: "2025-12-21", Reason: "backwards"},
				{From: "2025-12-22", Reason: "no end"},
				{Through: "2025-12-22", Reason: "no start"},
				{From: "22/12/2025", Through: "2025-02-30", Reason: "bad dates"},
				{Start: start, End: start.Add(time.Hour), From: "2025-12-01", Through: "2025-12-01", Reason: "both forms"},
			}},
			want: []string{
				`blocker: policy.Freezes[0].Through: 2025-12-21 is before From 2025-12-22`,
				`blocker: policy.Freezes[1].Through: not set: a freeze of dates needs From and Through (equal for one day)`,
				`blocker: policy.Freezes[2].From: not set: a freeze of dates needs From and Through (equal for one day)`,
				`blocker: policy.Freezes[3].From: "22/12/2025" is not a date YYYY-MM-DD`,
				`blocker: policy.Freezes[3].Through: "2025-02-30" is not a date YYYY-MM-DD`,
				`blocker: policy.Freezes[4]: sets both Start/End and From/Through; a freeze is either instants or local dates`,
			},
		},
		{
			name:   "negative horizon",
			policy: Policy{Horizon: duration.Duration(-time.Hour)},
			want:   []string{`blocker: policy.Horizon: negative duration -1h0m0s`},
		},
		{
			name:   "horizon too long",
			policy: Policy{Horizon: duration.Duration(MaxHorizon + time.Hour)},
			want:   []string{`blocker: policy.Horizon: 43921h0m0s is longer than the maximum 43920h0m0s`},
		},
		{
			name:   "bad holiday date and regions",
			policy: Policy{Regions: []string{""}, Holidays: []Holiday{{Date: "2025-13-01"}, {Date: "2025-12-25", Regions: []string{""}}}},
			want: []string{
				`blocker: policy.Regions[0]: empty region name`,
				`blocker: policy.Holidays[0].Date: "2025-13-01" is not a date YYYY-MM-DD`,
				`blocker: policy.Holidays[1].Regions[0]: empty region name`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Validate()
			got := problemsOf(t, err)
			// Zones is a map: its problems come in random order.
			slices.Sort(got)
			slices.Sort(tt.want)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate problems (-want +got):\n%s", diff)
			}
			if _, cerr := NewCalendar(tt.policy); (cerr == nil) != (err == nil) {
				t.Errorf("NewCalendar err = %v, Validate err = %v", cerr, err)
			}
		})
	}
}

func TestWindowDays(t *testing.T) {
	tests := []struct {
		days []string
		want []time.Weekday
	}{
		{nil, []time.Weekday{0, 1, 2, 3, 4, 5, 6}},
		{[]string{"Mon-Fri"}, []time.Weekday{1, 2, 3, 4, 5}},
		{[]string{"saturday", "SUN"}, []time.Weekday{0, 6}},
		{[]string{"Fri-Mon"}, []time.Weekday{0, 1, 5, 6}},
		{[]string{"Wed-Wed"}, []time.Weekday{3}},
	}
	for _, tt := range tests {
		var probs problems
		s, ok := compileWindow(&probs, "w", Window{Days: tt.days})
		if !ok {
			t.Fatalf("%v: %v", tt.days, probs.err())
		}
		var got []time.Weekday
		for d := time.Sunday; d <= time.Saturday; d++ {
			if s.covers(d, 0) {
				got = append(got, d)
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("days %v (-want +got):\n%s", tt.days, diff)
		}
	}
	if err := (Window{Start: "25:00"}).Validate(); err == nil || err.Error() != `blocker: window.Start: "25:00": hour 25 is outside 0-24` {
		t.Errorf("Window.Validate = %v", err)
	}
}

func TestPolicyJSON(t *testing.T) {
	const doc = `{
	  "zone": "America/New_York",
	  "zones": {"eu-central-1": "Europe/Berlin"},
	  "windows": [{"days": ["Mon-Fri"], "start": "09:00", "end": "17:00"}],
	  "deny": [{"days": ["Fri"], "start": "15:00"}],
	  "holidays": [{"date": "2025-12-25", "name": "Christmas Day"}],
	  "freezes": [{"start": "2025-11-27T00:00:00Z", "end": "2025-12-02T00:00:00Z", "reason": "sales event"}],
	  "horizon": "720h"
	}`
	var p Policy
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	want := Policy{
		Zone:     "America/New_York",
		Zones:    map[string]string{"eu-central-1": "Europe/Berlin"},
		Windows:  businessHours,
		Deny:     []Window{{Days: []string{"Fri"}, Start: "15:00"}},
		Holidays: []Holiday{{Date: "2025-12-25", Name: "Christmas Day"}},
		Freezes:  []Freeze{{Start: utc("2025-11-27T00:00:00Z"), End: utc("2025-12-02T00:00:00Z"), Reason: "sales event"}},
		Horizon:  duration.Duration(720 * time.Hour),
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Fatalf("decoded policy (-want +got):\n%s", diff)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Policy
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(b), `"horizon":"720h0m0s"`) {
		t.Errorf("horizon not readable in %s", b)
	}
}
