package blocker

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzPolicyJSON decodes arbitrary policy JSON. Whatever it is, nothing
// panics; a policy that validates compiles, round-trips through JSON
// unchanged, and its calendar agrees with itself: NextOpen is never before
// now, the calendar is open at NextOpen, and Check blocks exactly when
// NextOpen is later than now.
func FuzzPolicyJSON(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"zone": "America/New_York", "windows": [{"days": ["Mon-Fri"], "start": "09:00", "end": "17:00"}], "deny": [{"days": ["Fri"], "start": "15:00"}]}`,
		`{"zones": {"us-east-1": "America/New_York", "eu-central-1": "Europe/Berlin"}, "holidays": [{"date": "2025-10-03", "regions": ["eu-central-1"]}]}`,
		`{"zone": "Europe/Berlin", "deny": [{"start": "02:00", "end": "03:00"}], "horizon": "48h"}`,
		`{"zone": "Australia/Lord_Howe", "windows": [{"days": ["Sun"], "start": "01:45", "end": "02:15"}]}`,
		`{"freezes": [{"start": "2025-11-27T17:00:00Z", "end": "2025-12-01T17:00:00Z", "reason": "sales"}]}`,
		`{"zone": "Mars/Base", "windows": [{"start": "25:00", "end": "09:00"}], "horizon": "-1h"}`,
		`{"windows": [{"days": ["Funday"], "start": "9", "end": "24:00"}], "regions": [""]}`,
		`{"zone": "Local"}`,
		`{"zones": {"us-east-1": "America/New_York", "ap-southeast-2": "Australia/Sydney"}, "freezes": [{"from": "2025-12-24", "through": "2025-12-26", "reason": "year end"}]}`,
		`{"zone": "America/Santiago", "freezes": [{"from": "2025-09-06", "through": "2025-09-06", "reason": "midnight gap", "regions": ["us-east-1"]}]}`,
		`{"freezes": [{"from": "2025-12-26", "through": "2025-12-24", "reason": "backwards"}, {"from": "x", "start": "2025-01-01T00:00:00Z", "reason": "both"}]}`,
		`{"horizon": 1e30}`,
		`[1, 2]`,
	} {
		f.Add([]byte(seed), int64(1748000000), uint8(0))
	}
	regions := [][]string{nil, {"us-east-1"}, {"eu-central-1", "us-east-1"}, {"nowhere"}}
	f.Fuzz(func(t *testing.T, data []byte, unix int64, pick uint8) {
		var p Policy
		if err := json.Unmarshal(data, &p); err != nil {
			return
		}
		// Keep the search short: the fuzzer explores policies, not years.
		if p.Horizon.Std() > 40*24*time.Hour {
			p.Horizon = 0
		}
		if len(p.Freezes) > 20 || len(p.Windows)+len(p.Deny) > 20 {
			return
		}
		cal, err := NewCalendar(p)
		if verr := p.Validate(); (verr == nil) != (err == nil) {
			t.Fatalf("Validate = %v but NewCalendar = %v", verr, err)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("validation error %v does not wrap ErrInvalid", err)
			}
			return
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("Marshal valid policy: %v", err)
		}
		var back Policy
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("Unmarshal own output %s: %v", b, err)
		}
		if diff := cmp.Diff(p, back, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
		// Instants from 1970 to 2100.
		now := time.Unix(unix%(130*365*86400), 0).UTC()
		if now.Before(time.Unix(0, 0)) {
			now = now.Add(130 * 365 * 24 * time.Hour)
		}
		s := Subject{Regions: regions[int(pick)%len(regions)]}
		d, cerr := cal.Check(context.Background(), s, now)
		next, nerr := cal.NextOpen(s, now)
		if cerr != nil {
			if !errors.Is(cerr, ErrNoZone) || !errors.Is(nerr, ErrNoZone) {
				t.Fatalf("Check err %v, NextOpen err %v: want both ErrNoZone", cerr, nerr)
			}
			return
		}
		if nerr != nil {
			if !errors.Is(nerr, ErrNeverOpen) {
				t.Fatalf("NextOpen err %v, want ErrNeverOpen", nerr)
			}
			if !d.Blocked || !d.Until.IsZero() {
				t.Fatalf("never opens but Check = %+v", d)
			}
			return
		}
		if next.Before(now) {
			t.Fatalf("NextOpen %s is before now %s", next, now)
		}
		if d.Blocked != next.After(now) {
			t.Fatalf("Check(now).Blocked = %v but NextOpen = %s (now %s)", d.Blocked, next, now)
		}
		if d.Blocked && !d.Until.Equal(next) {
			t.Fatalf("Until %s != NextOpen %s", d.Until, next)
		}
		// Every blocked decision names what holds it, and until when.
		if d.Blocked && len(d.Holds) == 0 {
			t.Fatalf("blocked with no holds: %+v", d)
		}
		for _, h := range d.Holds {
			switch h.Kind {
			case HoldFreeze, HoldHoliday, HoldDeny, HoldWindow:
			default:
				t.Fatalf("hold of kind %q", h.Kind)
			}
			if !h.Until.IsZero() && (!h.Until.After(now) || h.Until.After(next)) {
				t.Fatalf("hold %s ends outside (now %s, NextOpen %s]", h, now, next)
			}
		}
		if at, err := cal.Check(context.Background(), s, next); err != nil || at.Blocked {
			t.Fatalf("Check(NextOpen %s) = %+v, %v", next, at, err)
		}
	})
}

// FuzzWindowJSON decodes arbitrary window JSON. A window that validates
// covers its start and not its end, on its days, and survives a JSON round
// trip; one that does not validate reports field errors under "window".
func FuzzWindowJSON(f *testing.F) {
	for _, seed := range []string{
		`{"days": ["Mon-Fri"], "start": "09:00", "end": "17:00"}`,
		`{"days": ["Fri"], "start": "15:00"}`,
		`{"days": ["sat", "Sunday"], "end": "24:00"}`,
		`{"days": ["Fri-Mon"], "start": "0:30", "end": "1:45"}`,
		`{"start": "25:00"}`,
		`{"start": "17:00", "end": "09:00"}`,
		`{"start": "24:00"}`,
		`{"days": ["Mon-"], "end": "12:5"}`,
		`{"days": [""]}`,
		`{}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var w Window
		if err := json.Unmarshal(data, &w); err != nil {
			return
		}
		var probs problems
		s, ok := compileWindow(&probs, "window", w)
		err := w.Validate()
		if ok != (err == nil) {
			t.Fatalf("compile ok = %v, Validate = %v", ok, err)
		}
		if !ok {
			var fe *FieldError
			if !errors.As(err, &fe) || len(fe.Path) < 6 || fe.Path[:6] != "window" {
				t.Fatalf("error %v is not a field error under window", err)
			}
			return
		}
		if s.start < 0 || s.end > 86400 || s.start >= s.end || s.days == 0 || s.days > 0x7f {
			t.Fatalf("compiled %+v out of range", s)
		}
		for d := time.Sunday; d <= time.Saturday; d++ {
			on := s.days&(1<<d) != 0
			if s.covers(d, s.start) != on || s.covers(d, s.end) || s.covers(d, s.start-1) {
				t.Fatalf("span %+v on %s: covers start %v, end %v", s, d, s.covers(d, s.start), s.covers(d, s.end))
			}
		}
		b, _ := json.Marshal(w)
		var back Window
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(w, back, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	})
}
