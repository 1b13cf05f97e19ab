package rollouttest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

func newFleet(t *testing.T, c rollouttest.Config) *rollouttest.Fleet {
	t.Helper()
	if c.Targets == nil {
		c.Targets = rollouttest.Hosts([]string{"r1", "r2"}, 2, 2)
	}
	if c.Initial == "" {
		c.Initial = "v1"
	}
	f, err := rollouttest.NewFleet(c)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func target(f *rollouttest.Fleet, id string) wave.Target {
	for _, t := range f.Targets() {
		if t.ID == id {
			return t
		}
	}
	return wave.Target{ID: id}
}

func TestHosts(t *testing.T) {
	got := rollouttest.Hosts([]string{"eu", "us"}, 2, 2)
	want := []wave.Target{
		{ID: "eua-1", Location: []string{"eu", "eua", "eua-1"}},
		{ID: "eua-2", Location: []string{"eu", "eua", "eua-2"}},
		{ID: "eub-1", Location: []string{"eu", "eub", "eub-1"}},
		{ID: "eub-2", Location: []string{"eu", "eub", "eub-2"}},
		{ID: "usa-1", Location: []string{"us", "usa", "usa-1"}},
		{ID: "usa-2", Location: []string{"us", "usa", "usa-2"}},
		{ID: "usb-1", Location: []string{"us", "usb", "usb-1"}},
		{ID: "usb-2", Location: []string{"us", "usb", "usb-2"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Hosts (-want +got):\n%s", diff)
	}
	if z := rollouttest.Hosts([]string{"r"}, 28, 1); z[26].Location[1] != "raa" || z[27].Location[1] != "rab" {
		t.Errorf("zones 27 and 28 are %q and %q, want raa and rab", z[26].Location[1], z[27].Location[1])
	}
}

func TestNewFleetReportsEveryProblem(t *testing.T) {
	_, err := rollouttest.NewFleet(rollouttest.Config{
		Targets: []wave.Target{{ID: "a", Location: []string{"r"}}, {ID: "a"}, {ID: "", Location: []string{"r"}, Weight: -1}},
		Versions: map[string]rollouttest.Behavior{"v2": {
			ErrorRate: 2, Latency: -time.Second,
			Regressions: []rollouttest.Regression{{MinLoad: 1.5}, {ErrorRate: 0.1, After: -time.Minute}},
		}},
		Faults:     []rollouttest.Fault{{Op: "reboot", Delay: time.Second}, {}, {Permanent: true}, {FailRate: 2}},
		DeployTime: -1,
		Traffic:    rollouttest.Traffic{Rate: -1, Trough: 2, PeakHour: 25, Spread: 9, Period: time.Millisecond},
	})
	if !errors.Is(err, rollouttest.ErrInvalid) {
		t.Fatalf("NewFleet = %v, want ErrInvalid", err)
	}
	for _, want := range []string{
		`rollouttest: Targets[1].ID: "a" is also Targets[0]`,
		`rollouttest: Targets[1].Location: empty`,
		`rollouttest: Targets[2].ID: empty`,
		`rollouttest: Targets[2].Weight: -1 is not a finite non-negative number`,
		`rollouttest: Initial: empty`,
		`rollouttest: Versions["v2"].ErrorRate: 2 is outside [0, 1]`,
		`rollouttest: Versions["v2"].Latency: -1s is negative`,
		`rollouttest: Versions["v2"].Regressions[0].MinLoad: 1.5 is outside [0, 1]`,
		`rollouttest: Versions["v2"].Regressions[0]: degrades nothing`,
		`rollouttest: Versions["v2"].Regressions[1].After: -1m0s is negative`,
		`rollouttest: Faults[0].Op: unknown op "reboot"`,
		`rollouttest: Faults[1]: does nothing`,
		`rollouttest: Faults[2].Permanent: set, but the fault fails nothing`,
		`rollouttest: Faults[3].FailRate: 2 is outside [0, 1]`,
		`rollouttest: DeployTime: -1ns is negative`,
		`rollouttest: Traffic.Rate: -1 is not a finite non-negative number`,
		`rollouttest: Traffic.Trough: 2 is outside (0, 1]`,
		`rollouttest: Traffic.PeakHour: 25 is outside (0, 24]`,
		`rollouttest: Traffic.Spread: 9 is outside [0, 5]`,
		`rollouttest: Traffic.Period: 1ms is not a duration of at least 1s`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not report %q; got:\n%v", want, err)
		}
	}
	var fe *rollouttest.FieldError
	if !errors.As(err, &fe) {
		t.Errorf("errors.As(%v, *FieldError) failed", err)
	}
	if err := (rollouttest.Config{Targets: rollouttest.Hosts([]string{"r"}, 1, 1), Initial: "v1"}).Validate(); err != nil {
		t.Errorf("a valid config: %v", err)
	}
	if _, err := rollouttest.NewFleet(rollouttest.Config{}); err == nil || !strings.Contains(err.Error(), "Targets: empty") {
		t.Errorf("empty config: %v, want Targets: empty", err)
	}
}

func TestDeployRecordsCallsAndChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFleet(t, rollouttest.Config{DeployTime: 2 * time.Minute})
		ctx := t.Context()
		t0 := time.Now()
		a, b := target(f, "r1a-1"), target(f, "r1a-2")
		if err := f.Deploy(ctx, a, "v2"); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(t0); got != 2*time.Minute {
			t.Errorf("a deploy took %s, want the deploy time, 2m", got)
		}
		// Deploying the version a target runs is harmless and instant.
		if err := f.Deploy(ctx, a, "v2"); err != nil {
			t.Fatal(err)
		}
		if err := f.Rollback(ctx, a, "v1"); err != nil {
			t.Fatal(err)
		}
		if err := f.Deploy(ctx, b, "v2"); err != nil {
			t.Fatal(err)
		}
		v, err := f.Version(ctx, b)
		if err != nil || v != "v2" {
			t.Errorf("Version(b) = %q, %v; want v2", v, err)
		}
		m := func(d time.Duration) time.Time { return t0.Add(d * time.Minute) }
		wantCalls := []rollouttest.Call{
			{Op: rollouttest.OpDeploy, Target: "r1a-1", Version: "v2", From: "v1", Start: m(0), End: m(2)},
			{Op: rollouttest.OpDeploy, Target: "r1a-1", Version: "v2", From: "v2", Start: m(2), End: m(2)},
			{Op: rollouttest.OpRollback, Target: "r1a-1", Version: "v1", From: "v2", Start: m(2), End: m(4)},
			{Op: rollouttest.OpDeploy, Target: "r1a-2", Version: "v2", From: "v1", Start: m(4), End: m(6)},
		}
		if diff := cmp.Diff(wantCalls, f.Calls()); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
		wantChanges := []rollouttest.Change{
			{Time: m(2), Target: "r1a-1", Version: "v2", From: "v1", Op: rollouttest.OpDeploy},
			{Time: m(4), Target: "r1a-1", Version: "v1", From: "v2", Op: rollouttest.OpRollback},
			{Time: m(6), Target: "r1a-2", Version: "v2", From: "v1", Op: rollouttest.OpDeploy},
		}
		if diff := cmp.Diff(wantChanges, f.Changes()); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"r1a-1", "r1a-2"}, f.Deployed("v2")); diff != "" {
			t.Errorf("Deployed(v2) (-want +got):\n%s", diff)
		}
		if got := f.Versions(); got["r1a-1"] != "v1" || got["r1a-2"] != "v2" || len(got) != 8 {
			t.Errorf("Versions = %v", got)
		}
		if f.Current("nope") != "" {
			t.Error("Current of an unknown target is not empty")
		}
	})
}

func TestDeployHonoursCancellation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFleet(t, rollouttest.Config{DeployTime: time.Hour})
		a := target(f, "r1a-1")
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		err := f.Deploy(ctx, a, "v2")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Deploy = %v, want the context's deadline", err)
		}
		if v := f.Current(a.ID); v != "v1" {
			t.Errorf("a cancelled deploy switched the target to %q", v)
		}
		if c := f.Calls(); len(c) != 1 || c[0].OK() {
			t.Errorf("calls %+v, want one failed call", c)
		}
		if _, err := f.Version(ctx, a); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Version with an expired context = %v", err)
		}
	})
}

func TestFaults(t *testing.T) {
	type call struct {
		op      rollouttest.Op
		target  string
		version string
	}
	deploy := func(id, v string) call { return call{rollouttest.OpDeploy, id, v} }
	for _, tc := range []struct {
		name   string
		faults []rollouttest.Fault
		calls  []call
		// want is, per call, "" for success, "transient" or "permanent".
		want []string
		// took is the whole sequence's duration.
		took time.Duration
	}{{
		name:   "flaky first two calls per target",
		faults: []rollouttest.Fault{{FailFirst: 2}},
		calls:  []call{deploy("r1a-1", "v2"), deploy("r1a-1", "v2"), deploy("r1a-1", "v2"), deploy("r1a-2", "v2")},
		want:   []string{"transient", "transient", "", "transient"},
	}, {
		name:   "broken artifact",
		faults: []rollouttest.Fault{{Version: "bad", FailAlways: true, Permanent: true}},
		calls:  []call{deploy("r1a-1", "bad"), deploy("r1a-1", "v2")},
		want:   []string{"permanent", ""},
	}, {
		name:   "slow zone",
		faults: []rollouttest.Fault{{Zones: []string{"r2b"}, Delay: 10 * time.Minute}},
		calls:  []call{deploy("r1a-1", "v2"), deploy("r2b-1", "v2")},
		want:   []string{"", ""},
		took:   10 * time.Minute,
	}, {
		name:   "region refuses rollback",
		faults: []rollouttest.Fault{{Op: rollouttest.OpRollback, Regions: []string{"r1"}, FailAlways: true}},
		calls: []call{deploy("r1a-1", "v2"), {rollouttest.OpRollback, "r1a-1", "v1"},
			deploy("r1a-1", "v1"), deploy("r2a-1", "v2"), {rollouttest.OpRollback, "r2a-1", "v1"}},
		want: []string{"", "transient", "", "", ""},
	}, {
		name:   "unreadable version",
		faults: []rollouttest.Fault{{Op: rollouttest.OpVersion, Targets: []string{"r1a-2"}, FailFirst: 1}},
		calls:  []call{{rollouttest.OpVersion, "r1a-2", ""}, {rollouttest.OpVersion, "r1a-2", ""}, {rollouttest.OpVersion, "r1a-1", ""}},
		want:   []string{"transient", "", ""},
	}, {
		name:  "unknown target",
		calls: []call{deploy("r9-1", "v2"), {rollouttest.OpVersion, "r9-1", ""}},
		want:  []string{"permanent", "permanent"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFleet(t, rollouttest.Config{Faults: tc.faults})
				start := time.Now()
				for i, c := range tc.calls {
					var err error
					switch c.op {
					case rollouttest.OpDeploy:
						err = f.Deploy(t.Context(), target(f, c.target), c.version)
					case rollouttest.OpRollback:
						err = f.Rollback(t.Context(), target(f, c.target), c.version)
					case rollouttest.OpVersion:
						_, err = f.Version(t.Context(), target(f, c.target))
					}
					got := ""
					switch {
					case err != nil && rollout.IsPermanent(err):
						got = "permanent"
					case err != nil:
						got = "transient"
					}
					if got != tc.want[i] {
						t.Errorf("call %d (%s %s %s) = %v (%q), want %q", i, c.op, c.target, c.version, err, got, tc.want[i])
					}
				}
				if took := time.Since(start); took != tc.took {
					t.Errorf("the calls took %s, want %s", took, tc.took)
				}
			})
		})
	}
}

func TestFailRateIsSeeded(t *testing.T) {
	run := func(seed uint64) []bool {
		f := newFleet(t, rollouttest.Config{Seed: seed, Faults: []rollouttest.Fault{{FailRate: 0.3}}})
		var out []bool
		for range 200 {
			out = append(out, f.Deploy(t.Context(), target(f, "r1a-1"), "v2") != nil)
		}
		return out
	}
	a, b, c := run(1), run(1), run(2)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("the same seed gave different failures (-first +second):\n%s", diff)
	}
	if cmp.Equal(a, c) {
		t.Error("seeds 1 and 2 gave the same failures")
	}
	n := 0
	for _, failed := range a {
		if failed {
			n++
		}
	}
	// 200 draws at 30%: the mean is 60 and the standard deviation 6.5.
	if n < 35 || n > 85 {
		t.Errorf("%d of 200 calls failed at a rate of 30%%", n)
	}
}

func TestHangEndsWithItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFleet(t, rollouttest.Config{Faults: []rollouttest.Fault{{Hang: true}}})
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Hour)
		defer cancel()
		start := time.Now()
		err := f.Deploy(ctx, target(f, "r1a-1"), "v2")
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 3*time.Hour {
			t.Errorf("Deploy = %v after %s, want the deadline after 3h", err, time.Since(start))
		}
	})
}
