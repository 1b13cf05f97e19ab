package traffic_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/traffic"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func f(x float64) *float64 { return &x }

// goldenPresets are the expansions pinned in testdata/presets.golden, each
// with the documented semantics of its source in words.
func goldenPresets(t *testing.T) []struct {
	name, doc string
	s         traffic.Schedule
} {
	t.Helper()
	must := func(s traffic.Schedule, err error) traffic.Schedule {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var out []struct {
		name, doc string
		s         traffic.Schedule
	}
	add := func(name, doc string, s traffic.Schedule) {
		out = append(out, struct {
			name, doc string
			s         traffic.Schedule
		}{name, doc, s})
	}
	for _, n := range traffic.Presets() {
		add(n, "named preset", must(traffic.Preset(n)))
	}
	add("Argo steps", "setWeight 20, pause 1h, setWeight 40, pause{}, analysis, setWeight 80, pause 10m; promoted fully after the last step",
		must(traffic.Argo([]traffic.ArgoStep{
			{SetWeight: f(20)}, {Pause: &traffic.ArgoPause{Duration: duration.Duration(time.Hour)}},
			{SetWeight: f(40)}, {Pause: &traffic.ArgoPause{}}, {Analysis: &traffic.ArgoAnalysis{Templates: []string{"success-rate"}}},
			{SetWeight: f(80)}, {Pause: &traffic.ArgoPause{Duration: duration.Duration(10 * time.Minute)}},
		})))
	add("Argo ending at 100", "setWeight 50, pause 5m, setWeight 100: nothing added",
		must(traffic.Argo([]traffic.ArgoStep{{SetWeight: f(50)}, {Pause: &traffic.ArgoPause{Duration: duration.Duration(5 * time.Minute)}}, {SetWeight: f(100)}})))
	add("Flagger stepWeight 10 maxWeight 50", "weights 10..50 every interval (1m default), promotion after the tick at 50",
		must(traffic.Flagger{StepWeight: 10, MaxWeight: 50}.Schedule()))
	add("Flagger stepWeight 20 maxWeight 50", "not a multiple: 20, 40, 60 (past the maximum, as Flagger does), then promoted (PR 190)",
		must(traffic.Flagger{StepWeight: 20, MaxWeight: 50, Interval: duration.Duration(30 * time.Second)}.Schedule()))
	add("Flagger stepWeight 30", "no maxWeight means 100: 30, 60, 90, 100",
		must(traffic.Flagger{StepWeight: 30}.Schedule()))
	add("Flagger stepWeights", "stepWeights [1, 2, 10, 80] every 2m, then promoted",
		must(traffic.Flagger{StepWeights: []float64{1, 2, 10, 80}, Interval: duration.Duration(2 * time.Minute)}.Schedule()))
	add("Flagger iterations with match", "A/B: matching requests to the canary for 10 iterations of 1m, promoted, matches removed",
		must(traffic.Flagger{Iterations: 10, Match: []traffic.Match{{Header: "x-canary", Value: "insider"}}}.Schedule()))
	add("Flagger iterations", "blue/green: 3 iterations without traffic, then switched",
		must(traffic.Flagger{Iterations: 3}.Schedule()))
	add("AppConfig linear 20% over 10h", "AppConfig's documented timeline: 0% at 0h, 20% at 2h ... 100% at 10h; bake 1h",
		must(traffic.AppConfig{Growth: traffic.Linear, Factor: 20, Duration: duration.Duration(10 * time.Hour), FinalBake: duration.Duration(time.Hour)}.Schedule()))
	add("AppConfig exponential G=2", "G*(2^N): 2, 4, 8, 16, 32, 64, 100 over 7m; no bake",
		must(traffic.AppConfig{Growth: traffic.Exponential, Factor: 2, Duration: duration.Duration(7 * time.Minute)}.Schedule()))
	add("Cloud Deploy 25,50 verify", "phases 25% and 50% each verified and advanced by hand, then stable 100% verified",
		must(traffic.CloudDeploy{Percentages: []float64{25, 50}, Verify: true}.Schedule()))
	add("Cloud Deploy 0,10 auto", "a 0% phase (deployed, no traffic), 10%, each advanced by an automation after 15m, no verify",
		must(traffic.CloudDeploy{Percentages: []float64{0, 10}, Advance: duration.Duration(15 * time.Minute)}.Schedule()))
	add("BlueGreen 1h", "verify the idle set, switch, keep the old set 1h, retire it", traffic.BlueGreen(time.Hour))
	return out
}

// TestPresetGolden pins every expansion; the golden file is reviewed
// against each source's documentation (see the doc line of each entry).
func TestPresetGolden(t *testing.T) {
	var b bytes.Buffer
	for _, p := range goldenPresets(t) {
		if err := p.s.Validate(); err != nil {
			t.Errorf("%s: %v", p.name, err)
		}
		fmt.Fprintf(&b, "# %s: %s\n%s\n%s\n", p.name, p.doc, p.s, p.s.Explain())
	}
	file := filepath.Join("testdata", "presets.golden")
	if *update {
		if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("expansions changed; review and rerun with -update:\n%s", got)
	}
}

// TestPresetSemantics states the documented numbers as assertions, so the
// golden file is not the only witness.
func TestPresetSemantics(t *testing.T) {
	weights := func(s traffic.Schedule) string { return fmt.Sprint(s.Weights()) }
	for _, c := range []struct {
		name    string
		weights string
		min     time.Duration
	}{
		{"CodeDeployDefault.LambdaCanary10Percent5Minutes", "[10 100]", 5 * time.Minute},
		{"CodeDeployDefault.LambdaCanary10Percent15Minutes", "[10 100]", 15 * time.Minute},
		{"CodeDeployDefault.LambdaCanary10Percent30Minutes", "[10 100]", 30 * time.Minute},
		{"CodeDeployDefault.LambdaLinear10PercentEvery1Minute", "[10 20 30 40 50 60 70 80 90 100]", 9 * time.Minute},
		{"CodeDeployDefault.LambdaLinear10PercentEvery10Minutes", "[10 20 30 40 50 60 70 80 90 100]", 90 * time.Minute},
		{"CodeDeployDefault.LambdaAllAtOnce", "[100]", 0},
		// 20% every 6 minutes over 30 minutes, then 30 minutes of bake.
		{"AppConfig.Linear20PercentEvery6Minutes", "[20 40 60 80 100]", 60 * time.Minute},
		// Exponential at 10%: 10, 20, 40, 80, 100 over 20 minutes; bake 10.
		{"AppConfig.Canary10Percent20Minutes", "[10 20 40 80 100]", 30 * time.Minute},
		{"AppConfig.Linear50PercentEvery30Seconds", "[50 100]", 2 * time.Minute},
		{"AppConfig.AllAtOnce", "[100]", 10 * time.Minute},
	} {
		s, err := traffic.Preset(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if got := weights(s); got != c.weights {
			t.Errorf("%s: weights %s, want %s", c.name, got, c.weights)
		}
		if got := s.MinDuration(); got != c.min {
			t.Errorf("%s: takes %s, want %s", c.name, got, c.min)
		}
	}
	s, _ := traffic.Preset("AppConfig.Linear20PercentEvery6Minutes")
	if s.Steps[0].String() != "hold 6m0s" || s.Steps[1].String() != "weight 20%" {
		t.Errorf("AppConfig reaches 20%% one interval after the start, got %s", s)
	}
	if _, err := traffic.Preset("Canary"); err == nil || !strings.Contains(err.Error(), "AppConfig.AllAtOnce") {
		t.Errorf("an unknown preset should list the known ones: %v", err)
	}
}

func TestPresetErrors(t *testing.T) {
	for name, f := range map[string]func() error{
		"flagger two modes": func() error {
			_, err := traffic.Flagger{StepWeight: 10, StepWeights: []float64{5}}.Schedule()
			return err
		},
		"flagger nothing":  func() error { _, err := traffic.Flagger{}.Schedule(); return err },
		"flagger max only": func() error { _, err := traffic.Flagger{MaxWeight: 50}.Schedule(); return err },
		"flagger step 0.0": func() error { _, err := traffic.Flagger{StepWeight: -1}.Schedule(); return err },
		"appconfig factor": func() error { _, err := traffic.AppConfig{Growth: traffic.Linear}.Schedule(); return err },
		"appconfig growth": func() error { _, err := traffic.AppConfig{Growth: "cubic", Factor: 10}.Schedule(); return err },
		"appconfig bake": func() error {
			_, err := traffic.AppConfig{Growth: traffic.Linear, Factor: 10, FinalBake: duration.Duration(25 * time.Hour)}.Schedule()
			return err
		},
		"clouddeploy 100":   func() error { _, err := traffic.CloudDeploy{Percentages: []float64{50, 100}}.Schedule(); return err },
		"clouddeploy order": func() error { _, err := traffic.CloudDeploy{Percentages: []float64{50, 25}}.Schedule(); return err },
		"clouddeploy 12.5":  func() error { _, err := traffic.CloudDeploy{Percentages: []float64{12.5}}.Schedule(); return err },
		"argo two in a step": func() error {
			_, err := traffic.Argo([]traffic.ArgoStep{{SetWeight: f(5), Pause: &traffic.ArgoPause{}}})
			return err
		},
		"argo empty step": func() error { _, err := traffic.Argo([]traffic.ArgoStep{{}}); return err },
		"argo over 100":   func() error { _, err := traffic.Argo([]traffic.ArgoStep{{SetWeight: f(150)}}); return err },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.HasPrefix(err.Error(), "traffic: ") {
			t.Errorf("%s: %q does not name the package", name, err)
		}
	}
}
