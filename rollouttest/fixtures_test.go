package rollouttest_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

func TestAWSPlanShape(t *testing.T) {
	p := rollouttest.AWSPlan(6, 3, 3)
	all := rollouttest.AllTargets(p)
	if len(all) != 6*3*3 {
		t.Fatalf("%d targets, want %d", len(all), 6*3*3)
	}
	if all[0] != "r0-z0-h0" {
		t.Errorf("first target %s, want r0-z0-h0 (the lightest region goes first)", all[0])
	}
	var sizes []int
	n := 0
	for wi, w := range p.Waves {
		sizes = append(sizes, len(w.Regions))
		ws := rollouttest.WaveTargets(p, wi)
		var st []string
		for _, s := range w.Stages {
			st = append(st, rollouttest.StageTargets(p, s.Name)...)
		}
		if !slices.Equal(ws, st) {
			t.Errorf("wave %d: WaveTargets %v, stages hold %v", wi, ws, st)
		}
		n += len(ws)
	}
	if !slices.Equal(sizes, []int{1, 1, 2, 2}) || n != len(all) {
		t.Errorf("waves of %v regions holding %d targets, want [1 1 2 2] holding %d", sizes, n, len(all))
	}
	z := rollouttest.ZeroBake(p)
	if z.FinalBake != 0 || p.FinalBake == 0 {
		t.Errorf("ZeroBake: final bake %v (original %v)", z.FinalBake, p.FinalBake)
	}
	for _, w := range z.Waves {
		for _, s := range w.Stages {
			if s.Bake != 0 {
				t.Errorf("ZeroBake: stage %s bakes %v", s.Name, s.Bake)
			}
		}
	}
	if p.Waves[0].Stages[0].Bake == 0 {
		t.Error("ZeroBake modified its argument")
	}
}

func TestMemFleetAndEventLog(t *testing.T) {
	p := rollouttest.AWSPlan(1, 1, 2)
	f := rollouttest.NewMemFleet(p, "v1")
	f.Fail = func(target, version string, attempt int) error {
		if attempt == 1 {
			return errors.New("flaky")
		}
		return nil
	}
	ctx := context.Background()
	tg := wave.Target{ID: "r0-z0-h1"}
	if f.Touched() {
		t.Error("touched before any call")
	}
	if err := f.Deploy(ctx, tg, "v2"); err == nil {
		t.Error("first deploy succeeded, want the scripted failure")
	}
	if err := f.Deploy(ctx, tg, "v2"); err != nil {
		t.Errorf("second deploy: %v", err)
	}
	if v, err := f.Version(ctx, tg); err != nil || v != "v2" || f.Running("r0-z0-h0") != "v1" {
		t.Errorf("versions %q, %v; h0 runs %q", v, err, f.Running("r0-z0-h0"))
	}
	if c := f.Calls(); len(c) != 2 || c[0].OK || !c[1].OK || !f.OnAny([]string{"r0-z0-h1"}, "v2") || f.MaxInflight() != 1 {
		t.Errorf("calls %+v, max in flight %d", c, f.MaxInflight())
	}

	var l rollouttest.EventLog
	l.Add(rollout.Event{Kind: rollout.EventStarted, Time: time.Unix(0, 0)})
	l.Add(rollout.Event{Kind: rollout.EventResumed})
	if k := l.Kinds(rollout.EventResumed); len(k) != 1 || len(l.Events()) != 2 {
		t.Errorf("Kinds %v, Events %v", k, l.Events())
	}
}
