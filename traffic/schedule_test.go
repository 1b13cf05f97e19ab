package traffic_test

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/field"
	"github.com/shepherd-go/shepherd/traffic"
)

func TestValidateNamesBadSteps(t *testing.T) {
	for _, c := range []struct {
		name string
		s    traffic.Schedule
		want []string // "path: words"
	}{
		{"empty", traffic.Schedule{}, []string{"Steps: empty"}},
		{"decrease", traffic.Schedule{Steps: []traffic.Step{traffic.Weight(50), traffic.Weight(20), traffic.Weight(100)}},
			[]string{"Steps[1].Percent: 20% is lower than the earlier 50%"}},
		{"over 100", traffic.Schedule{Steps: []traffic.Step{traffic.Weight(150)}},
			[]string{"Steps[0].Percent: 150% is over 100%", "Steps[0].Percent: the schedule ends at 150%"}},
		{"negative", traffic.Schedule{Steps: []traffic.Step{traffic.Weight(-1), traffic.Weight(100)}},
			[]string{"Steps[0].Percent: -1% is negative"}},
		{"NaN", traffic.Schedule{Steps: []traffic.Step{traffic.Weight(math.NaN()), traffic.Weight(100)}},
			[]string{"Steps[0].Percent: NaN is not a number"}},
		{"hold without exit", traffic.Schedule{Steps: []traffic.Step{traffic.Weight(10), {Kind: traffic.KindHold}, traffic.Weight(100)}},
			[]string{"Steps[1]: a hold with no exit"}},
		{"hold with two exits", traffic.Schedule{Steps: []traffic.Step{traffic.Weight(10), {Kind: traffic.KindHold, Until: "approval", Duration: duration.Duration(time.Minute)}, traffic.Weight(100)}},
			[]string{"Steps[1]: a hold with two exits"}},
		{"hold until what", traffic.Schedule{Steps: []traffic.Step{{Kind: traffic.KindHold, Until: "friday"}, traffic.Weight(100)}},
			[]string{`Steps[0].Until: unknown "friday"`}},
		{"negative hold", traffic.Schedule{Steps: []traffic.Step{traffic.Hold(-time.Minute), traffic.Weight(100)}},
			[]string{"Steps[0].Duration: -1m0s is negative"}},
		{"none hold", traffic.Schedule{Steps: []traffic.Step{{Kind: traffic.KindHold, Duration: duration.None}, traffic.Weight(100)}},
			[]string{"Steps[0].Duration: none is negative"}},
		{"not at 100", traffic.Schedule{Steps: []traffic.Step{traffic.Weight(10), traffic.Hold(time.Minute), traffic.Weight(50)}},
			[]string{"Steps[2].Percent: the schedule ends at 50%"}},
		{"no weight", traffic.Schedule{Steps: []traffic.Step{traffic.Hold(time.Minute)}},
			[]string{"Steps: no weight step"}},
		{"unknown kind", traffic.Schedule{Steps: []traffic.Step{{Kind: "setWeight"}, traffic.Weight(100)}},
			[]string{`Steps[0].Kind: unknown step kind "setWeight"`}},
		{"stray field", traffic.Schedule{Steps: []traffic.Step{{Kind: traffic.KindWeight, Percent: 100, Duration: duration.Duration(time.Minute)}}},
			[]string{"Steps[0].Duration: a weight step has no duration"}},
		{"retire early", traffic.Schedule{Steps: []traffic.Step{traffic.Weight(50), traffic.Retire(), traffic.Weight(100)}},
			[]string{"Steps[1]: retire before the switch to 100%"}},
		{"match without header", traffic.Schedule{Steps: []traffic.Step{traffic.MatchRequests(traffic.Match{Value: "x"}), traffic.Weight(100)}},
			[]string{"Steps[0].Match[0].Header: empty"}},
		{"mirror over", traffic.Schedule{Steps: []traffic.Step{traffic.Mirror(101), traffic.Weight(100)}},
			[]string{"Steps[0].Percent: 101% is over 100%"}},
		{"decrease allowed", traffic.Schedule{AllowDecrease: true, Steps: []traffic.Step{traffic.Weight(50), traffic.Weight(20), traffic.Weight(100)}}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.s.Validate()
			if len(c.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, traffic.ErrInvalid) {
				t.Fatalf("%v does not wrap ErrInvalid", err)
			}
			probs := field.All(err)
			for _, w := range c.want {
				found := false
				for _, p := range probs {
					found = found || strings.HasPrefix(p.Path+": "+p.Problem, w)
				}
				if !found {
					t.Errorf("no problem %q in:\n%v", w, err)
				}
			}
			if !strings.HasPrefix(err.Error(), "traffic: ") {
				t.Errorf("%q does not name the package", err)
			}
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	in := traffic.Schedule{Steps: []traffic.Step{
		traffic.MatchRequests(traffic.Match{Header: "x-canary", Value: "1"}),
		traffic.Mirror(50), traffic.Mirror(0),
		traffic.Weight(0), traffic.Verify(), traffic.Weight(10), traffic.Hold(90 * time.Minute),
		traffic.HoldForApproval(), traffic.Bake(), traffic.Judge(), traffic.BakeFor(time.Hour),
		traffic.Weight(100), traffic.MatchRequests(), traffic.Retire(),
	}}
	if err := in.Validate(); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, readable := range []string{`{"kind":"hold","duration":"1h30m0s"}`, `{"kind":"weight","percent":0}`, `{"kind":"hold","until":"approval"}`, `{"kind":"judge"}`} {
		if !strings.Contains(string(data), readable) {
			t.Errorf("%s does not contain %s", data, readable)
		}
	}
	out, err := traffic.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"typo":          `{"steps":[{"kind":"weight","precent":100}]}`,
		"bare duration": `{"steps":[{"kind":"hold","duration":300},{"kind":"weight","percent":100}]}`,
		"unknown field": `{"steps":[{"kind":"weight","percent":100}],"speed":"fast"}`,
		"trailing":      `{"steps":[{"kind":"weight","percent":100}]} {}`,
		"not at 100":    `{"steps":[{"kind":"weight","percent":10}]}`,
		"hold no exit":  `{"steps":[{"kind":"hold"},{"kind":"weight","percent":100}]}`,
	} {
		if _, err := traffic.Decode([]byte(in)); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// TestEverySchedulePromotesFully is the property Flagger once broke (a
// maximum that is not a multiple of the step reported success without
// promoting): every preset, with any parameters it accepts, ends at 100%,
// and so does every schedule Validate accepts.
func TestEverySchedulePromotesFully(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pick := func() float64 { return float64(1 + r.IntN(100)) }
	for i := range 5000 {
		var ss []traffic.Schedule
		add := func(s traffic.Schedule, err error) {
			if err == nil {
				ss = append(ss, s)
			}
		}
		every := time.Duration(1+r.IntN(600)) * time.Second
		ss = append(ss, traffic.CodeDeployCanary(pick(), every), traffic.CodeDeployLinear(pick(), every), traffic.BlueGreen(every))
		add(traffic.Flagger{StepWeight: pick(), MaxWeight: pick(), Interval: duration.Duration(every)}.Schedule())
		add(traffic.Flagger{StepWeight: r.Float64() * 100, MaxWeight: r.Float64() * 100}.Schedule())
		ws := make([]float64, 1+r.IntN(6))
		for j := range ws {
			ws[j] = pick()
		}
		add(traffic.Flagger{StepWeights: ws}.Schedule())
		add(traffic.Flagger{Iterations: 1 + r.IntN(20), Match: []traffic.Match{{Header: "h", Value: "v"}}}.Schedule())
		g := traffic.Linear
		if i%2 == 1 {
			g = traffic.Exponential
		}
		add(traffic.AppConfig{Growth: g, Factor: r.Float64()*100 + 0.01, Duration: duration.Duration(every * 10), FinalBake: duration.Duration(every)}.Schedule())
		var argo []traffic.ArgoStep
		for range r.IntN(8) {
			switch r.IntN(3) {
			case 0:
				w := float64(r.IntN(101))
				argo = append(argo, traffic.ArgoStep{SetWeight: &w})
			case 1:
				argo = append(argo, traffic.ArgoStep{Pause: &traffic.ArgoPause{Duration: duration.Duration(every * time.Duration(r.IntN(2)))}})
			default:
				argo = append(argo, traffic.ArgoStep{Analysis: &traffic.ArgoAnalysis{}})
			}
		}
		add(traffic.Argo(argo))
		var pcts []float64
		for p := float64(r.IntN(30)); p < 100; p += float64(1 + r.IntN(40)) {
			pcts = append(pcts, p)
		}
		add(traffic.CloudDeploy{Percentages: pcts, Verify: i%3 == 0}.Schedule())
		if len(ss) < 6 {
			t.Fatalf("round %d: presets refused valid parameters", i)
		}
		for _, s := range ss {
			if err := s.Validate(); err != nil {
				t.Fatalf("round %d: %s: %v", i, s, err)
			}
			if s.Final() != 100 {
				t.Fatalf("round %d: %s ends at %v%%", i, s, s.Final())
			}
		}
	}
}

func TestBucketIsStickyAndEven(t *testing.T) {
	const n = 100000
	in := map[int]int{}
	for i := range n {
		id := "user-" + string(rune('a'+i%26)) + "-" + time.Duration(i).String()
		b := traffic.Bucket("flag-42", id)
		if b < 0 || b >= 100 {
			t.Fatalf("bucket %v outside [0, 100)", b)
		}
		if b != traffic.Bucket("flag-42", id) {
			t.Fatal("not sticky")
		}
		// Growing the share never takes an entity back.
		if traffic.Exposed("flag-42", id, 5) && !traffic.Exposed("flag-42", id, 20) {
			t.Fatal("an entity in at 5% is out at 20%")
		}
		in[int(b/10)]++
	}
	for d := range 10 {
		if got := float64(in[d]) / n; math.Abs(got-0.1) > 0.005 {
			t.Errorf("decile %d holds %.4f of the entities, want 0.1 +- 0.005", d, got)
		}
	}
	if traffic.Bucket("a", "bc") == traffic.Bucket("ab", "c") {
		t.Error("salt and entity run together")
	}
}

func TestExposureAccount(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	var e traffic.Exposure
	if b := e.Blast(t0); b.Peak != 0 || b.String() != "never exposed" {
		t.Errorf("zero value: %+v", b)
	}
	e.Set(t0, 0)
	e.Set(t0.Add(time.Minute), 10)
	e.Set(t0.Add(11*time.Minute), 50)
	e.Set(t0.Add(10*time.Minute), 50) // earlier than the last: counts as then
	e.Set(t0.Add(13*time.Minute), 0)
	got := e.Blast(t0.Add(time.Hour))
	want := traffic.Blast{Peak: 50, Exposed: 12 * time.Minute, Full: time.Minute + time.Minute}
	if got != want {
		t.Errorf("blast %+v, want %+v", got, want)
	}
	if e.First != t0.Add(time.Minute) {
		t.Errorf("first exposed %s", e.First)
	}
	if s := got.String(); s != "peak 50% of requests, exposed 12m0s, as much as 2m0s of all requests" {
		t.Errorf("in words: %s", s)
	}
	if sum := got.Add(traffic.Blast{Peak: 10, Exposed: time.Hour, Full: time.Minute}); sum != (traffic.Blast{Peak: 50, Exposed: time.Hour, Full: 3 * time.Minute}) {
		t.Errorf("sum %+v", sum)
	}
}
