package policyfile_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/blocker"
	"github.com/shepherd-go/shepherd/canary"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/field"
	"github.com/shepherd-go/shepherd/policyfile"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/wave"
)

// policyOpts compares policies as files do: an empty list is no list, and
// wave.Policy.Order is code, not data.
var policyOpts = cmp.Options{
	cmpopts.EquateEmpty(),
	cmpopts.IgnoreFields(wave.Policy{}, "Order"),
}

// full is a policy with every part set.
func full() *policyfile.Policy {
	return &policyfile.Policy{
		Plan: wave.Policy{
			OneBox: wave.OneBoxRule{MaxFraction: 0.25, PerZone: true},
			Waves:  wave.Sizing{Sizes: []int{1, 2, 4}},
			Batch:  wave.Batching{MaxFraction: 0.5},
			Bake:   wave.BakeSchedule{OneBox: duration.Duration(30 * time.Minute), Final: duration.None},
			First:  []string{"eu-west-1"},
		},
		Rollout: rollout.Policy{
			Deploy:    rollout.DeployPolicy{Concurrency: 3, StageDeadline: duration.Duration(2 * time.Hour)},
			Blockers:  rollout.BlockerPolicy{MaxWait: duration.Duration(72 * time.Hour)},
			Approvals: []string{"w1/*"},
			Reactions: map[rollout.Signal]rollout.Reaction{rollout.SignalAlarm: rollout.Pause},
			Canary:    rollout.CanaryPolicy{Enabled: true},
		},
		Blockers: policyfile.Blockers{
			Policy: blocker.Policy{
				Zone:    "Europe/Berlin",
				Windows: []blocker.Window{{Days: []string{"Mon-Fri"}, Start: "09:00", End: "17:00"}},
				Freezes: []blocker.Freeze{
					{From: "2026-12-21", Through: "2027-01-03", Reason: "year-end"},
					{Start: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 1, 0, 0, 0, 0, time.FixedZone("", 3600)), Reason: "sales"},
				},
			},
			Alarms: []string{"errors"},
		},
		Alarms: []alarm.Rule{{Name: "errors", Threshold: &alarm.Threshold{
			Query: "error_rate", Comparison: alarm.GreaterThan, Threshold: 0.05,
			Evaluation: alarm.Evaluation{Period: duration.Duration(time.Minute), EvaluationPeriods: 3},
		}}},
		Canary: &canary.Policy{TrafficShare: 0.05, Metrics: []canary.Metric{{Name: "errors", Kind: canary.Count}}},
	}
}

// TestRoundTrip writes policies as JSON and as YAML and reads them back
// to equal policies.
func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    *policyfile.Policy
	}{
		{"zero", &policyfile.Policy{}},
		{"full", full()},
	} {
		for _, f := range []policyfile.Format{policyfile.JSON, policyfile.YAML} {
			t.Run(tc.name+"/"+string(f), func(t *testing.T) {
				if err := tc.p.Validate(); err != nil {
					t.Fatalf("the policy does not validate: %v", err)
				}
				data, err := policyfile.Marshal(tc.p, f)
				if err != nil {
					t.Fatal(err)
				}
				got, err := policyfile.Parse(data)
				if err != nil {
					t.Fatalf("Parse(Marshal(p)): %v\n%s", err, data)
				}
				if diff := cmp.Diff(tc.p, got, policyOpts); diff != "" {
					t.Errorf("round trip (-want +got):\n%s\n%s", diff, data)
				}
			})
		}
	}
}

// TestSameInBothFormats reads one policy written as JSON and as YAML.
func TestSameInBothFormats(t *testing.T) {
	js := `{"plan": {"waves": {"sizes": [1, 2]}, "bake": {"zone": "none"}},
	        "blockers": {"zone": "UTC", "freezes": [{"from": "2026-12-21", "through": "2026-12-24", "reason": "r"}]}}`
	ym := "plan:\n  waves:\n    sizes: [1, 2]\n  bake: {zone: none}\nblockers:\n  zone: UTC\n  freezes:\n  - from: '2026-12-21'\n    through: '2026-12-24'\n    reason: r\n"
	a, err := policyfile.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	b, err := policyfile.Parse([]byte(ym))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b, policyOpts); diff != "" {
		t.Errorf("JSON and YAML differ (-json +yaml):\n%s", diff)
	}
	if !a.Plan.Bake.Zone.IsNone() {
		t.Errorf(`"none" read as %v`, a.Plan.Bake.Zone)
	}
}

// TestSentinels checks that every part's problems keep their package's
// sentinel through the file's paths.
func TestSentinels(t *testing.T) {
	_, err := policyfile.Parse([]byte(`{"plan": {"batch": {"maxFraction": 2}}, "rollout": {"deploy": {"concurrency": -1}},
		"blockers": {"zone": "Nowhere/None"}, "alarms": [{"name": "x"}], "bogus": 1, "canary": {"alpha": 3, "metrics": []}}`))
	for _, s := range []error{wave.ErrInvalid, rollout.ErrInvalid, blocker.ErrInvalid, alarm.ErrInvalid, policyfile.ErrUnknownField, policyfile.ErrInvalid} {
		if !errors.Is(err, s) {
			t.Errorf("errors.Is(err, %v) = false; err:\n%v", s, err)
		}
	}
	var paths []string
	for _, fe := range field.All(err) {
		paths = append(paths, fe.Path)
	}
	want := []string{"bogus", "plan.batch.maxFraction", "rollout.deploy.concurrency", "blockers.zone", "alarms[0].threshold", "canary.alpha", "canary.metrics"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("paths (-want +got):\n%s\n%v", diff, err)
	}
}

// TestUnmarshalOtherTypes reads a type of the caller's with the same
// strictness.
func TestUnmarshalOtherTypes(t *testing.T) {
	type host struct {
		ID     string            `json:"id"`
		Bake   duration.Duration `json:"bake"`
		Labels map[string]int    `json:"labels"`
	}
	var hs []host
	err := policyfile.Unmarshal([]byte("- id: a\n  bake: 1h\n  labels: {x: 1}\n- idd: b\n  bake: 5\n  labels: {y: z}\n"), &hs)
	want := `policyfile: [1].bake: the bare number 5 has no unit; write a string such as "5s" or "5m"` + "\n" +
		`policyfile: [1].idd: unknown field; did you mean "id"?` + "\n" +
		`policyfile: [1].labels["true"]: a YAML boolean as a key (YAML reads y, n, yes, no, on and off as true or false: quote the word)`
	got := ""
	if err != nil {
		got = err.Error()
	}
	// The duration's sentinel is duration's own.
	want = "duration" + want[len("policyfile"):]
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err := policyfile.Unmarshal([]byte("{}"), hs); err == nil {
		t.Error("Unmarshal into a non-pointer succeeded")
	}
}
