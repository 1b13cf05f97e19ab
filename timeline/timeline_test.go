package timeline

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestValidate(t *testing.T) {
	m := time.Minute
	tests := []struct {
		name string
		tl   Timeline
		want []string
	}{
		{"zero value", Timeline{}, nil},
		{"fixtures", *runTimeline(), nil},
		{"every problem", Timeline{
			Start: at(time.Hour), End: at(0), Now: at(10 * m),
			Rows: []Row{
				{Name: "", Outcome: "exploded"},
				{Name: "a", Spans: []Span{
					{Kind: "dancing", Start: at(0), End: at(m)},
					{Kind: Baking, Start: at(5 * m), End: at(2 * m)},
					{Kind: Baking},
				}},
				{Name: "a", Spans: []Span{
					{Kind: Deploying, Start: at(0)},
					{Kind: Baking, Start: at(m), End: at(2 * m)},
				}},
				{Name: "b", Spans: []Span{
					{Kind: Deploying, Start: at(0), End: at(5 * m)},
					{Kind: Baking, Start: at(4 * m), End: at(6 * m)},
					{Kind: Blocked, Start: at(20 * m)},
				}, Marks: []Mark{
					{Kind: "ping", Severity: "fatal"},
				}},
			},
		}, []string{
			"timeline: End: 2024-03-04T09:00:00Z is before Start 2024-03-04T10:00:00Z",
			"timeline: Rows[0].Name: empty",
			`timeline: Rows[0].Outcome: unknown outcome "exploded" (want succeeded, failed, rolled-back, cancelled or skipped)`,
			`timeline: Rows[1].Spans[0].Kind: unknown kind "dancing" (want waiting, deploying, verifying, baking, blocked, waiting-approval or rolling-back)`,
			"timeline: Rows[1].Spans[1].End: 2024-03-04T09:02:00Z is before its Start 2024-03-04T09:05:00Z",
			"timeline: Rows[1].Spans[2].Start: zero",
			`timeline: Rows[2].Name: "a" is also the name of Rows[1]`,
			"timeline: Rows[2].Spans[1]: follows Spans[0], which is open: only the last span may be open",
			"timeline: Rows[3].Spans[1].Start: 2024-03-04T09:04:00Z overlaps Spans[0], which ends at 2024-03-04T09:05:00Z",
			"timeline: Rows[3].Spans[2].Start: open span starts at 2024-03-04T09:20:00Z, after Now 2024-03-04T09:10:00Z",
			`timeline: Rows[3].Marks[0].Kind: unknown kind "ping" (want alarm, verdict or note)`,
			"timeline: Rows[3].Marks[0].Time: zero",
			`timeline: Rows[3].Marks[0].Severity: unknown severity "fatal" (want empty for info, warning or critical)`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			if err := tc.tl.Validate(); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRenderInvalid checks that no renderer writes a byte for an invalid
// timeline.
func TestRenderInvalid(t *testing.T) {
	bad := &Timeline{Rows: []Row{{Name: ""}}}
	for _, r := range renderers {
		var b bytes.Buffer
		if err := r.render(bad, &b); err == nil || b.Len() != 0 {
			t.Errorf("%s: err %v, wrote %d bytes; want an error and nothing written", r.ext, err, b.Len())
		}
	}
}

// TestBuilder feeds the events of a stage's life through the builder
// methods, as an adapter from rollout events would, and compares with the
// timeline written by hand.
func TestBuilder(t *testing.T) {
	m := time.Minute
	tl := &Timeline{Title: "t", Rows: []Row{{Name: "one-box", Group: "wave 1"}, {Name: "zone-a", Group: "wave 1"}}}
	steps := []error{
		tl.Open("one-box", Deploying, at(0), "batch 1/1"),
		tl.Open("one-box", Baking, at(3*m), "bake 30m"),
		tl.AddMark("one-box", Mark{Kind: Verdict, Time: at(33 * m), Label: "pass"}),
		tl.Finish("one-box", at(33*m), Succeeded),
		tl.Open("zone-a", Blocked, at(33*m), "window"),
		tl.Open("zone-a", Deploying, at(40*m), ""),
		tl.Close("zone-a", at(45*m)), // deployed, not yet baking
		tl.Open("zone-a", Baking, at(45*m), ""),
		tl.AddMark("zone-a", Mark{Kind: Alarm, Time: at(50 * m), Label: "5xx", Severity: Critical}),
		tl.Open("zone-a", RollingBack, at(50*m), ""),
		tl.Open("extra", Waiting, at(50*m), ""), // unknown rows are appended
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	tl.CloseAll(at(55 * m))
	want := &Timeline{Title: "t", Rows: []Row{
		{Name: "one-box", Group: "wave 1", Outcome: Succeeded, Spans: []Span{
			{Kind: Deploying, Start: at(0), End: at(3 * m), Label: "batch 1/1"},
			{Kind: Baking, Start: at(3 * m), End: at(33 * m), Label: "bake 30m"},
		}, Marks: []Mark{{Kind: Verdict, Time: at(33 * m), Label: "pass"}}},
		{Name: "zone-a", Group: "wave 1", Spans: []Span{
			{Kind: Blocked, Start: at(33 * m), End: at(40 * m), Label: "window"},
			{Kind: Deploying, Start: at(40 * m), End: at(45 * m)},
			{Kind: Baking, Start: at(45 * m), End: at(50 * m)},
			{Kind: RollingBack, Start: at(50 * m), End: at(55 * m)},
		}, Marks: []Mark{{Kind: Alarm, Time: at(50 * m), Label: "5xx", Severity: Critical}}},
		{Name: "extra", Spans: []Span{{Kind: Waiting, Start: at(50 * m), End: at(55 * m)}}},
	}}
	if diff := cmp.Diff(want, tl); diff != "" {
		t.Errorf("built timeline (-want +got):\n%s", diff)
	}
	if err := tl.Validate(); err != nil {
		t.Errorf("built timeline is invalid: %v", err)
	}

	// Bad events fail and change nothing.
	before := deepCopy(tl)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"unknown kind", tl.Open("zone-a", "dancing", at(60*m), ""), `timeline: open "zone-a": unknown kind "dancing"`},
		{"zero time", tl.Open("zone-a", Baking, time.Time{}, ""), `timeline: "zone-a": zero time`},
		{"back in time", tl.Open("zone-a", Baking, at(52*m), ""), `timeline: "zone-a": time 2024-03-04T09:52:00Z is before the row's last span (rolling-back from 2024-03-04T09:50:00Z)`},
		{"empty row", tl.Open("", Baking, at(60*m), ""), "timeline: unknown row: empty name"},
		{"close unknown", tl.Close("nope", at(60*m)), `timeline: unknown row "nope"`},
		{"finish bad outcome", tl.Finish("zone-a", at(60*m), "won"), `timeline: finish "zone-a": unknown outcome "won"`},
		{"finish back in time", tl.Finish("zone-a", at(51*m), RolledBack), "is before the row's last span"},
		{"mark kind", tl.AddMark("zone-a", Mark{Kind: "ping", Time: at(60 * m)}), `timeline: mark "zone-a": unknown kind "ping"`},
		{"mark severity", tl.AddMark("zone-a", Mark{Kind: Note, Time: at(60 * m), Severity: "meh"}), `unknown severity "meh"`},
		{"mark time", tl.AddMark("zone-a", Mark{Kind: Note}), `timeline: mark "zone-a": zero time`},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, tc.err, tc.want)
		}
	}
	if diff := cmp.Diff(before, tl); diff != "" {
		t.Errorf("failed builder calls changed the timeline (-want +got):\n%s", diff)
	}
}

func TestBounds(t *testing.T) {
	m := time.Minute
	tests := []struct {
		name       string
		tl         Timeline
		start, end time.Time
		ok         bool
	}{
		{"empty", Timeline{Rows: []Row{{Name: "a"}}}, time.Time{}, time.Time{}, false},
		{"content", *runTimeline(), at(0), at(214 * m), true},
		{"now extends", Timeline{Now: at(30 * m), Rows: []Row{{Name: "a", Spans: []Span{{Kind: Baking, Start: at(0)}}}}}, at(0), at(30 * m), true},
		{"one instant", Timeline{Rows: []Row{{Name: "a", Marks: []Mark{{Kind: Note, Time: at(0)}}}}}, at(0), at(m), true},
		{"explicit", Timeline{Start: at(-m), End: at(m), Rows: []Row{{Name: "a", Spans: []Span{{Kind: Baking, Start: at(0), End: at(5 * m)}}}}}, at(-m), at(m), true},
		{"only end", Timeline{End: at(m)}, at(0), at(m), true},
	}
	for _, tc := range tests {
		s, e, ok := tc.tl.Bounds()
		if !s.Equal(tc.start) || !e.Equal(tc.end) || ok != tc.ok {
			t.Errorf("%s: Bounds = %v, %v, %v; want %v, %v, %v", tc.name, s, e, ok, tc.start, tc.end, tc.ok)
		}
	}
}

func TestHuman(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                 "0s",
		400 * time.Millisecond:            "0s",
		45 * time.Second:                  "45s",
		5 * time.Minute:                   "5m",
		90 * time.Minute:                  "1h30m",
		time.Hour + 30*time.Second:        "1h",
		26 * time.Hour:                    "1d2h",
		48 * time.Hour:                    "2d",
		49*time.Hour + 5*time.Minute:      "2d1h",
		-(3*time.Minute + 20*time.Second): "-3m20s",
		5*24*time.Hour + 59*time.Minute:   "5d",
		12*time.Hour + 20*time.Minute + 1: "12h20m",
	} {
		if got := human(d); got != want {
			t.Errorf("human(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"plain w1/us-east-1":  "plain w1/us-east-1",
		"a\tb\nc\rd":          "a b c d",
		"\x1b[31mred":         "\uFFFD[31mred",
		"c1\u009b2J":          "c1\uFFFD2J",
		"nul\x00":             "nul\uFFFD",
		"bad\xffutf8":         "bad\uFFFDutf8",
		"keeps \uFFFD and é→": "keeps \uFFFD and é→",
		"\uFFFE":              "\uFFFD",
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

func deepCopy(t *Timeline) *Timeline {
	c := *t
	c.Rows = make([]Row, len(t.Rows))
	for i, r := range t.Rows {
		r.Spans = append([]Span(nil), r.Spans...)
		r.Marks = append([]Mark(nil), r.Marks...)
		c.Rows[i] = r
	}
	return &c
}

// TestOneZone checks that times stamped in different zones are all drawn in
// the zone of the first instant.
func TestOneZone(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	tl := &Timeline{Rows: []Row{{Name: "a", Spans: []Span{
		{Kind: Deploying, Start: at(0).In(paris), End: at(time.Hour)},
	}, Marks: []Mark{{Kind: Note, Time: at(30 * time.Minute), Label: "n", Severity: Warning}}}}}
	var b strings.Builder
	if err := tl.WriteText(&b, 80); err != nil {
		t.Fatal(err)
	}
	want := []string{"2024-03-04 10:00:00 CET to 2024-03-04 11:00:00 CET", "idle since 11:00 · note 10:30: n"}
	for _, w := range want {
		if !strings.Contains(b.String(), w) {
			t.Errorf("text view does not say %q:\n%s", w, b.String())
		}
	}
}

// TestJSON checks that a timeline survives JSON, so that an adapter can
// persist one between runs of a driver.
func TestJSON(t *testing.T) {
	for _, tl := range []*Timeline{runTimeline(), liveTimeline(), planTimeline()} {
		b, err := json.Marshal(tl)
		if err != nil {
			t.Fatal(err)
		}
		var back Timeline
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tl, &back); diff != "" {
			t.Errorf("JSON round trip of %q (-want +got):\n%s", tl.Title, diff)
		}
	}
}
