package rollouttest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// conformingFleet is a fleet whose version "broken" fails for good and
// whose host r2b-2 is down for now.
func conformingFleet(t *testing.T) *rollouttest.Fleet {
	return newFleet(t, rollouttest.Config{
		DeployTime: 20 * time.Second,
		Faults: []rollouttest.Fault{
			{Version: "broken", FailAlways: true, Permanent: true},
			{Targets: []string{"r2b-2"}, FailAlways: true},
		},
	})
}

func deployerSuite(f *rollouttest.Fleet, d rollout.Deployer) rollouttest.DeployerSuite {
	return rollouttest.DeployerSuite{
		Deployer: d,
		Targets:  f.Targets()[:3],
		New:      "v2",
		Broken:   "broken",
		Flaky:    target(f, "r2b-2"),
	}
}

func TestFleetConforms(t *testing.T) {
	// In bubble time, deploys take a minute and a cancelled one is cut
	// short.
	synctest.Test(t, func(t *testing.T) {
		f := conformingFleet(t)
		if err := rollouttest.TestDeployer(t.Context(), deployerSuite(f, f)); err != nil {
			t.Fatal(err)
		}
		for id, v := range f.Versions() {
			if v != "v1" {
				t.Errorf("the suite left %s on %s", id, v)
			}
		}
	})
	// In real time, as subtests (which cannot run inside a bubble), with
	// instant deploys.
	f := newFleet(t, rollouttest.Config{Faults: []rollouttest.Fault{
		{Version: "broken", FailAlways: true, Permanent: true},
		{Targets: []string{"r2b-2"}, FailAlways: true},
	}})
	rollouttest.RunDeployer(t, deployerSuite(f, f))
}

func TestFleetWithoutFastRollbackConforms(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := conformingFleet(t)
		var d rollout.Deployer = struct{ rollout.Deployer }{f}
		if err := rollouttest.TestDeployer(t.Context(), deployerSuite(f, d)); err != nil {
			t.Fatal(err)
		}
		for _, c := range f.Calls() {
			if c.Op == rollouttest.OpRollback {
				t.Fatalf("rolled back with the fast path through a deployer that hides it: %+v", c)
			}
		}
	})
}

func TestFleetSourceConforms(t *testing.T) {
	f := newFleet(t, rollouttest.Config{})
	rollouttest.RunSource(t, rollouttest.SourceSuite{
		Source:  f,
		Queries: []string{"requests", `error_rate{region="r1"}`, `latency_p99_seconds{target="r1a-1"}`},
		Missing: `error_rate{version="never-deployed"}`,
		Bad:     "cpu_seconds",
	})
}

func TestMemorySourceConforms(t *testing.T) {
	var m alarm.Memory
	end := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	for i := range 20 {
		m.Record("errors", end.Add(-time.Duration(i)*time.Minute), float64(i%3), 100)
	}
	err := rollouttest.TestSource(t.Context(), rollouttest.SourceSuite{
		Source:  &m,
		Queries: []string{"errors"},
		Range:   alarm.Range{Start: end.Add(-10 * time.Minute), End: end, Step: time.Minute},
		Missing: "latency",
		Bad:     "",
	})
	if err != nil {
		t.Fatal(err)
	}
}

// broken wraps a fleet and breaks one rule of the Deployer contract.
type broken struct {
	f       *rollouttest.Fleet
	deploy  func(ctx context.Context, t wave.Target, v string) error
	version func(ctx context.Context, t wave.Target) (string, error)
}

func (b *broken) Deploy(ctx context.Context, t wave.Target, v string) error {
	if b.deploy != nil {
		return b.deploy(ctx, t, v)
	}
	return b.f.Deploy(ctx, t, v)
}

func (b *broken) Version(ctx context.Context, t wave.Target) (string, error) {
	if b.version != nil {
		return b.version(ctx, t)
	}
	return b.f.Version(ctx, t)
}

func TestBrokenDeployersFailTheSuite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(b *broken)
		// want are the failures reported, each "check: message part";
		// every other check must pass.
		want []string
	}{{
		name: "deploy does nothing",
		setup: func(b *broken) {
			b.deploy = func(ctx context.Context, t wave.Target, v string) error {
				if v == "broken" {
					return rollout.Permanent(errors.New("no such artifact"))
				}
				return ctx.Err()
			}
		},
		want: []string{
			`deploy: after deploying "v2", Version(r1a-1) = "v1", want "v2"`,
			`idempotent: after deploying "v2" twice, Version(r1a-1) = "v1", want "v2"`,
			`concurrent: after concurrent deploys of "v2", Version(`,
			`unknown-target: Deploy(rollouttest-no-such-target, "v2") to a target that does not exist returned nil`,
			`transient: Deploy(r2b-2, "v2") to the flaky target returned nil`,
		},
	}, {
		name: "second deploy of a version fails",
		setup: func(b *broken) {
			b.deploy = func(ctx context.Context, t wave.Target, v string) error {
				if cur, _ := b.f.Version(ctx, t); cur == v {
					return fmt.Errorf("%s already runs %s", t.ID, v)
				}
				return b.f.Deploy(ctx, t, v)
			}
		},
		want: []string{
			`idempotent: deploying the version a target already runs: Deploy(r1a-1, "v2"): r1a-1 already runs v2`,
			`rollback: rolling back a target already rolled back: Deploy(r1a-1, "v1"): r1a-1 already runs v1`,
			`cancel-during: restoring the original version: Deploy(r1a-1, "v1"): r1a-1 already runs v1`,
		},
	}, {
		name: "context ignored",
		setup: func(b *broken) {
			b.deploy = func(_ context.Context, t wave.Target, v string) error {
				return b.f.Deploy(context.Background(), t, v)
			}
		},
		want: []string{
			`cancelled: Deploy(r1a-1, "v2") with a cancelled context returned nil` + "\n" +
				`after a Deploy with a cancelled context, Version(r1a-1) = "v2", want "v1"`,
		},
	}, {
		name: "cancellation neither honoured nor reported",
		setup: func(b *broken) {
			b.deploy = func(ctx context.Context, t wave.Target, v string) error {
				err := b.f.Deploy(ctx, t, v)
				if ctx.Err() != nil {
					// A clean-up that ignores the deadline: longer than the
					// minute the suite waits.
					time.Sleep(2 * time.Minute)
				}
				return err
			}
		},
		want: []string{
			`cancelled: Deploy(r1a-1, "v2") with a cancelled context did not return within 1m0s`,
			`cancel-during: Deploy(r1a-1, "v2") cancelled after 1ms did not return within 1m0s`,
		},
	}, {
		name: "empty version instead of an error",
		setup: func(b *broken) {
			b.version = func(ctx context.Context, t wave.Target) (string, error) {
				v, err := b.f.Version(ctx, t)
				if err != nil {
					return "", nil
				}
				return v, nil
			}
		},
		want: []string{
			`cancelled: Version(r1a-1) with a cancelled context returned "" and no error`,
			`unknown-target: Version(rollouttest-no-such-target) of a target that does not exist returned "" and no error`,
		},
	}, {
		name: "every error transient",
		setup: func(b *broken) {
			b.deploy = func(ctx context.Context, t wave.Target, v string) error {
				if err := b.f.Deploy(ctx, t, v); err != nil {
					return errors.New(err.Error()) // loses the classification
				}
				return nil
			}
		},
		want: []string{
			`permanent: Deploy(r1a-1, "broken") of a broken version returned "rollouttest: scripted fault: deploy of \"broken\" on r1a-1 failed (fault 0, call 1)", which is not permanent`,
			// It loses the context's error too.
			`cancelled: Deploy(r1a-1, "v2") with a cancelled context returned "context canceled", which does not wrap context.Canceled`,
			`cancel-during: Deploy(r1a-1, "v2") cancelled after 1ms returned "context canceled", which does not wrap context.Canceled`,
		},
	}, {
		name: "every error permanent",
		setup: func(b *broken) {
			b.deploy = func(ctx context.Context, t wave.Target, v string) error {
				return rollout.Permanent(b.f.Deploy(ctx, t, v))
			}
		},
		want: []string{`transient: Deploy(r2b-2, "v2") to the flaky target returned "rollouttest: scripted fault: deploy of \"v2\" on r2b-2 failed (fault 1, call 1)", which is permanent`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := conformingFleet(t)
				b := &broken{f: f}
				tc.setup(b)
				s := deployerSuite(f, b)
				s.Timeout = time.Minute
				err := rollouttest.TestDeployer(t.Context(), s)
				if err == nil {
					t.Fatal("the suite passed")
				}
				var got []string
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var ce *rollouttest.CheckError
					if !errors.As(e, &ce) || ce.Suite != "deployer" {
						t.Fatalf("failure %v is not a deployer *CheckError", e)
					}
					got = append(got, ce.Check+": "+ce.Err.Error())
				}
				for _, w := range tc.want {
					found := false
					for _, g := range got {
						found = found || strings.Contains(g, w)
					}
					if !found {
						t.Errorf("no failure says %q", w)
					}
				}
				for _, g := range got {
					expected := false
					for _, w := range tc.want {
						expected = expected || strings.HasPrefix(g, w[:strings.Index(w, ":")+1])
					}
					if !expected {
						t.Errorf("unexpected failure: %s", g)
					}
				}
				if t.Failed() {
					t.Logf("the suite reported:\n%v", err)
				}
			})
		})
	}
}

// brokenSource breaks the Source contract in one way.
type brokenSource struct {
	m    *alarm.Memory
	mode string
}

func (s brokenSource) Query(ctx context.Context, q string, r alarm.Range) (alarm.Series, error) {
	switch s.mode {
	case "ignores ctx":
		ctx = context.Background()
	case "empty on error":
		if q == "bad" {
			return alarm.Series{}, nil
		}
	case "error when empty":
		if q == "missing" {
			return alarm.Series{}, errors.New("no such metric")
		}
	case "ignores the range":
		r = alarm.Range{Start: r.Start.Add(-time.Hour), End: r.End.Add(time.Hour), Step: r.Step}
		if r.End.Before(r.Start) {
			return alarm.Series{}, errors.New("bad range")
		}
	}
	if q == "bad" {
		return alarm.Series{}, errors.New("parse error")
	}
	return s.m.Query(ctx, q, r)
}

func TestBrokenSourcesFailTheSuite(t *testing.T) {
	var m alarm.Memory
	end := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	for i := range 180 {
		m.Record("errors", end.Add(time.Duration(i-90)*time.Minute), 1, 100)
	}
	for _, tc := range []struct{ mode, want string }{
		{"ignores ctx", `source conformance: cancelled: query "errors" with a cancelled context returned 11 points and no error`},
		{"empty on error", `source conformance: bad-query: malformed query "bad" returned 0 points and no error`},
		{"error when empty", `source conformance: missing: query "missing" without data returned an error`},
		{"ignores the range", `source conformance: data: query "errors" over [2026-05-04T09:50:00Z, 2026-05-04T10:00:00Z]: point 0 at 2026-05-04T08:50:00Z is outside the range`},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			var mu sync.Mutex // the suite is sequential; the lock documents that the source is shared
			mu.Lock()
			defer mu.Unlock()
			err := rollouttest.TestSource(t.Context(), rollouttest.SourceSuite{
				Source:  brokenSource{&m, tc.mode},
				Queries: []string{"errors"},
				Range:   alarm.Range{Start: end.Add(-10 * time.Minute), End: end, Step: time.Minute},
				Missing: "missing",
				Bad:     "bad",
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("suite = %v\nwant a failure saying %q", err, tc.want)
			}
		})
	}
}

func TestSuitesRefuseIncompleteInput(t *testing.T) {
	err := rollouttest.TestDeployer(t.Context(), rollouttest.DeployerSuite{})
	for _, w := range []string{"DeployerSuite.Deployer: nil", "DeployerSuite.Targets: empty", "DeployerSuite.New: empty"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("TestDeployer(empty suite) = %v, want %q", err, w)
		}
	}
	err = rollouttest.TestSource(t.Context(), rollouttest.SourceSuite{Range: alarm.Range{Start: time.Now(), End: time.Now().Add(-time.Hour), Step: time.Minute}})
	for _, w := range []string{"SourceSuite.Source: nil", "SourceSuite.Queries: empty", "SourceSuite.Range"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("TestSource(empty suite) = %v, want %q", err, w)
		}
	}
}
