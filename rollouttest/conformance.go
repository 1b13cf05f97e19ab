package rollouttest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/wave"
)

// DefaultCallTimeout bounds each call of a conformance check when the
// suite's Timeout is zero.
const DefaultCallTimeout = time.Minute

// DeployerSuite is the conformance suite for a team's own
// [rollout.Deployer], in the manner of testing/slogtest: run it with
// [TestDeployer] (which returns every failure, joined) or [RunDeployer]
// (one subtest per check) against real or staging targets. Each check
// leaves the targets on the version they ran at the start.
//
// The checks, by name:
//
//   - "version": Version reads a non-empty version of every target, the
//     same twice in a row.
//   - "deploy": Deploy of New succeeds, and Version then reads New.
//   - "idempotent": deploying New again succeeds and changes nothing.
//   - "rollback": the way back (Rollback when the deployer is a
//     [rollout.FastRollbacker], Deploy otherwise) restores the original
//     version, and doing it twice is harmless.
//   - "cancelled": with a cancelled context, Deploy and Version fail with
//     an error that wraps [context.Canceled], and nothing changes.
//   - "cancel-during": a Deploy whose context is cancelled CancelAfter
//     into the call returns within Timeout, with nil (it finished first)
//     or an error wrapping the context's; the target then runs either
//     version, whole.
//   - "concurrent": deploys to every target at once all land (the
//     methods must be safe for concurrent use on different targets).
//   - "unknown-target": Version and Deploy of a target that does not
//     exist fail, rather than report an empty version or succeed.
//   - "permanent" (when Broken is set): deploying Broken fails with a
//     permanent error ([rollout.IsPermanent]): retrying cannot help.
//   - "transient" (when Flaky is set): deploying to Flaky fails with an
//     error that is not permanent, so that the driver retries it.
type DeployerSuite struct {
	// Deployer is the implementation under test. Required.
	Deployer rollout.Deployer
	// Targets are the targets to deploy to: at least one, two or more to
	// check concurrency. They must all run the same version at the start.
	Targets []wave.Target
	// New is a version, different from the one the targets run, that
	// deploys successfully. Required.
	New string
	// Broken is a version the deployer must refuse for good (an artifact
	// that does not exist, a configuration that does not validate).
	// Empty skips the "permanent" check.
	Broken string
	// Flaky is a target whose deploys fail for now (a host taken down on
	// purpose, a fault injected), not one of Targets. Its zero value
	// skips the "transient" check.
	Flaky wave.Target
	// CancelAfter is how long into a Deploy the "cancel-during" check
	// cancels it. Zero means 1ms.
	CancelAfter time.Duration
	// Timeout bounds each call: a call that has not returned by then
	// fails its check. Zero means [DefaultCallTimeout].
	Timeout time.Duration
}

// A check is one named conformance check.
type check struct {
	name string
	run  func(ctx context.Context) error
}

// CheckError is one failed conformance check.
type CheckError struct {
	// Suite is "deployer" or "source"; Check is the check's name.
	Suite, Check string
	// Err says what went wrong.
	Err error
}

// Error names the suite and the check, then what went wrong.
func (e *CheckError) Error() string {
	return fmt.Sprintf("rollouttest: %s conformance: %s: %v", e.Suite, e.Check, e.Err)
}

// Unwrap returns Err.
func (e *CheckError) Unwrap() error { return e.Err }

// TestDeployer runs every check of the suite and returns the failures
// joined, each a [*CheckError] naming its check and what went wrong, or
// nil when the deployer conforms.
func TestDeployer(ctx context.Context, s DeployerSuite) error {
	checks, err := s.checks()
	if err != nil {
		return err
	}
	return runChecks(ctx, "deployer", checks)
}

// runChecks runs every check and joins their failures.
func runChecks(ctx context.Context, suite string, checks []check) error {
	var errs []error
	for _, c := range checks {
		if err := c.run(ctx); err != nil {
			errs = append(errs, &CheckError{Suite: suite, Check: c.name, Err: err})
		}
	}
	return errors.Join(errs...)
}

// runSubtests runs every check as a subtest named after it, and reports the
// optional checks the suite was not configured for as skipped subtests.
func runSubtests(t *testing.T, checks []check, optional ...string) {
	t.Helper()
	names := map[string]bool{}
	for _, c := range checks {
		names[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			if err := c.run(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	for _, n := range optional {
		if !names[n] {
			t.Run(n, func(t *testing.T) { t.Skip("not configured") })
		}
	}
}

// RunDeployer runs every check of the suite as a subtest of t, named
// after the check. Checks whose input is not set (Broken, Flaky) are
// skipped. Subtests cannot start inside a testing/synctest bubble: to run
// the suite in bubble time (against a simulated deployer), call
// [TestDeployer] inside the bubble instead.
func RunDeployer(t *testing.T, s DeployerSuite) {
	t.Helper()
	checks, err := s.checks()
	if err != nil {
		t.Fatal(err)
	}
	runSubtests(t, checks, "permanent", "transient")
}

func (s *DeployerSuite) timeout() time.Duration {
	if s.Timeout <= 0 {
		return DefaultCallTimeout
	}
	return s.Timeout
}

// call runs f with a bounded wait: a call that does not return within
// the timeout is reported with a [*hungError], and left running.
func (s *DeployerSuite) call(what string, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	t := time.NewTimer(s.timeout())
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return &hungError{what, s.timeout()}
	}
}

// hungError is a call that did not return in time.
type hungError struct {
	what string
	d    time.Duration
}

// Error says which call did not return, and how long it was given.
func (e *hungError) Error() string { return fmt.Sprintf("%s did not return within %s", e.what, e.d) }

// hung returns err when it is a call that did not return in time.
func hung(err error) error {
	var h *hungError
	if errors.As(err, &h) {
		return h
	}
	return nil
}

// wrap prefixes err with the call, unless it already names it.
func wrap(what string, err error) error {
	if err == nil || hung(err) != nil {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (s *DeployerSuite) version(ctx context.Context, t wave.Target) (string, error) {
	var v string
	err := s.call(fmt.Sprintf("Version(%s)", t.ID), func() (err error) {
		v, err = s.Deployer.Version(ctx, t)
		return err
	})
	if err != nil {
		return "", wrap(fmt.Sprintf("Version(%s)", t.ID), err)
	}
	if v == "" {
		return "", fmt.Errorf("Version(%s) returned an empty version and no error (a version that cannot be read is an error)", t.ID)
	}
	return v, nil
}

func (s *DeployerSuite) deploy(ctx context.Context, t wave.Target, v string) error {
	what := fmt.Sprintf("Deploy(%s, %q)", t.ID, v)
	return wrap(what, s.call(what, func() error { return s.Deployer.Deploy(ctx, t, v) }))
}

// back returns t to v the way the driver would roll it back.
func (s *DeployerSuite) back(ctx context.Context, t wave.Target, v string) error {
	fr, ok := s.Deployer.(rollout.FastRollbacker)
	if !ok {
		return s.deploy(ctx, t, v)
	}
	what := fmt.Sprintf("Rollback(%s, %q)", t.ID, v)
	return wrap(what, s.call(what, func() error { return fr.Rollback(ctx, t, v) }))
}

func (s *DeployerSuite) expect(ctx context.Context, t wave.Target, want, after string) error {
	got, err := s.version(ctx, t)
	if err != nil {
		return fmt.Errorf("after %s: %w", after, err)
	}
	if got != want {
		return fmt.Errorf("after %s, Version(%s) = %q, want %q", after, t.ID, got, want)
	}
	return nil
}

func (s *DeployerSuite) checks() ([]check, error) {
	var ps problems
	if s.Deployer == nil {
		ps.add("DeployerSuite.Deployer", "nil")
	}
	if len(s.Targets) == 0 {
		ps.add("DeployerSuite.Targets", "empty")
	}
	if s.New == "" {
		ps.add("DeployerSuite.New", "empty")
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	t0 := s.Targets[0]
	// orig is what the targets run at the start, read by the first check.
	var orig string
	origOf := func(ctx context.Context) (string, error) {
		if orig != "" {
			return orig, nil
		}
		v, err := s.version(ctx, t0)
		if err != nil {
			return "", fmt.Errorf("reading the original version: %w", err)
		}
		if v == s.New {
			return "", fmt.Errorf("%s already runs New (%q): choose a version it does not run", t0.ID, s.New)
		}
		orig = v
		return v, nil
	}
	checks := []check{
		{"version", func(ctx context.Context) error {
			var errs []error
			for _, t := range s.Targets {
				a, err := s.version(ctx, t)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				b, err := s.version(ctx, t)
				if err != nil {
					errs = append(errs, fmt.Errorf("second read: %w", err))
					continue
				}
				if a != b {
					errs = append(errs, fmt.Errorf("Version(%s) read %q then %q with nothing deployed", t.ID, a, b))
				}
			}
			if _, err := origOf(ctx); err != nil {
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		}},
		{"deploy", func(ctx context.Context) error {
			o, err := origOf(ctx)
			if err != nil {
				return err
			}
			if err := s.deploy(ctx, t0, s.New); err != nil {
				return err
			}
			err = s.expect(ctx, t0, s.New, fmt.Sprintf("deploying %q", s.New))
			return errors.Join(err, s.restore(ctx, t0, o))
		}},
		{"idempotent", func(ctx context.Context) error {
			o, err := origOf(ctx)
			if err != nil {
				return err
			}
			if err := s.deploy(ctx, t0, s.New); err != nil {
				return err
			}
			if err := s.deploy(ctx, t0, s.New); err != nil {
				return errors.Join(fmt.Errorf("deploying the version a target already runs: %w", err), s.restore(ctx, t0, o))
			}
			err = s.expect(ctx, t0, s.New, fmt.Sprintf("deploying %q twice", s.New))
			return errors.Join(err, s.restore(ctx, t0, o))
		}},
		{"rollback", func(ctx context.Context) error {
			o, err := origOf(ctx)
			if err != nil {
				return err
			}
			if err := s.deploy(ctx, t0, s.New); err != nil {
				return err
			}
			if err := s.back(ctx, t0, o); err != nil {
				return err
			}
			if err := s.expect(ctx, t0, o, "rolling back"); err != nil {
				return err
			}
			if err := s.back(ctx, t0, o); err != nil {
				return fmt.Errorf("rolling back a target already rolled back: %w", err)
			}
			return s.expect(ctx, t0, o, "rolling back twice")
		}},
		{"cancelled", func(ctx context.Context) error {
			o, err := origOf(ctx)
			if err != nil {
				return err
			}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			var errs []error
			err = s.call(fmt.Sprintf("Deploy(%s, %q) with a cancelled context", t0.ID, s.New), func() error { return s.Deployer.Deploy(cctx, t0, s.New) })
			switch {
			case hung(err) != nil:
				errs = append(errs, err)
			case err == nil:
				errs = append(errs, fmt.Errorf("Deploy(%s, %q) with a cancelled context returned nil", t0.ID, s.New))
			case !errors.Is(err, context.Canceled):
				errs = append(errs, fmt.Errorf("Deploy(%s, %q) with a cancelled context returned %q, which does not wrap context.Canceled", t0.ID, s.New, err))
			}
			var v string
			err = s.call(fmt.Sprintf("Version(%s) with a cancelled context", t0.ID), func() (err error) { v, err = s.Deployer.Version(cctx, t0); return err })
			switch {
			case hung(err) != nil:
				errs = append(errs, err)
			case err == nil:
				errs = append(errs, fmt.Errorf("Version(%s) with a cancelled context returned %q and no error", t0.ID, v))
			case !errors.Is(err, context.Canceled):
				errs = append(errs, fmt.Errorf("Version(%s) with a cancelled context returned %q, which does not wrap context.Canceled", t0.ID, err))
			}
			if err := s.expect(ctx, t0, o, "a Deploy with a cancelled context"); err != nil {
				errs = append(errs, err, s.restore(ctx, t0, o))
			}
			return errors.Join(errs...)
		}},
		{"cancel-during", func(ctx context.Context) error {
			o, err := origOf(ctx)
			if err != nil {
				return err
			}
			after := s.CancelAfter
			if after <= 0 {
				after = time.Millisecond
			}
			cctx, cancel := context.WithCancel(ctx)
			stop := time.AfterFunc(after, cancel)
			err = s.call(fmt.Sprintf("Deploy(%s, %q) cancelled after %s", t0.ID, s.New, after), func() error {
				return s.Deployer.Deploy(cctx, t0, s.New)
			})
			stop.Stop()
			cancel()
			var errs []error
			switch {
			case hung(err) != nil:
				errs = append(errs, err)
			case err != nil && !errors.Is(err, context.Canceled):
				errs = append(errs, fmt.Errorf("Deploy(%s, %q) cancelled after %s returned %q, which does not wrap context.Canceled", t0.ID, s.New, after, err))
			}
			v, verr := s.version(ctx, t0)
			switch {
			case verr != nil:
				errs = append(errs, fmt.Errorf("after a cancelled Deploy: %w", verr))
			case v != o && v != s.New:
				errs = append(errs, fmt.Errorf("after a cancelled Deploy, Version(%s) = %q, want %q or %q", t0.ID, v, o, s.New))
			case err != nil && v == s.New:
				// Allowed: the deploy may have landed as it was cancelled.
			}
			return errors.Join(append(errs, s.restore(ctx, t0, o))...)
		}},
		{"concurrent", func(ctx context.Context) error {
			o, err := origOf(ctx)
			if err != nil {
				return err
			}
			var mu sync.Mutex
			var errs []error
			each := func(v string) {
				var wg sync.WaitGroup
				for _, t := range s.Targets {
					wg.Add(1)
					go func() {
						defer wg.Done()
						err := s.deploy(ctx, t, v)
						if err == nil {
							err = s.expect(ctx, t, v, fmt.Sprintf("concurrent deploys of %q", v))
						}
						if err != nil {
							mu.Lock()
							errs = append(errs, err)
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
			}
			each(s.New)
			each(o)
			return errors.Join(errs...)
		}},
		{"unknown-target", func(ctx context.Context) error {
			u := wave.Target{ID: "rollouttest-no-such-target", Location: t0.Location}
			var errs []error
			var v string
			err := s.call("Version of an unknown target", func() (err error) { v, err = s.Deployer.Version(ctx, u); return err })
			if err == nil {
				errs = append(errs, fmt.Errorf("Version(%s) of a target that does not exist returned %q and no error", u.ID, v))
			}
			err = s.call("Deploy to an unknown target", func() error { return s.Deployer.Deploy(ctx, u, s.New) })
			if err == nil {
				errs = append(errs, fmt.Errorf("Deploy(%s, %q) to a target that does not exist returned nil", u.ID, s.New))
			}
			return errors.Join(errs...)
		}},
	}
	if s.Broken != "" {
		checks = append(checks, check{"permanent", func(ctx context.Context) error {
			o, err := origOf(ctx)
			if err != nil {
				return err
			}
			err = s.call(fmt.Sprintf("Deploy(%s, %q)", t0.ID, s.Broken), func() error { return s.Deployer.Deploy(ctx, t0, s.Broken) })
			var errs []error
			switch {
			case hung(err) != nil:
				errs = append(errs, err)
			case err == nil:
				errs = append(errs, fmt.Errorf("Deploy(%s, %q) of a broken version returned nil", t0.ID, s.Broken))
			case !rollout.IsPermanent(err):
				errs = append(errs, fmt.Errorf("Deploy(%s, %q) of a broken version returned %q, which is not permanent (wrap it with rollout.Permanent so the driver does not retry)", t0.ID, s.Broken, err))
			}
			if v, verr := s.version(ctx, t0); verr != nil {
				errs = append(errs, fmt.Errorf("after a failed Deploy: %w", verr))
			} else if v != o {
				errs = append(errs, s.restore(ctx, t0, o))
			}
			return errors.Join(errs...)
		}})
	}
	if s.Flaky.ID != "" {
		checks = append(checks, check{"transient", func(ctx context.Context) error {
			err := s.call(fmt.Sprintf("Deploy(%s, %q)", s.Flaky.ID, s.New), func() error { return s.Deployer.Deploy(ctx, s.Flaky, s.New) })
			switch {
			case hung(err) != nil:
				return err
			case err == nil:
				return fmt.Errorf("Deploy(%s, %q) to the flaky target returned nil; it must fail for this check", s.Flaky.ID, s.New)
			case rollout.IsPermanent(err):
				return fmt.Errorf("Deploy(%s, %q) to the flaky target returned %q, which is permanent: the driver would not retry a failure that may pass", s.Flaky.ID, s.New, err)
			}
			return nil
		}})
	}
	return checks, nil
}

// restore puts t back on v, reporting a failure to do so.
func (s *DeployerSuite) restore(ctx context.Context, t wave.Target, v string) error {
	if err := s.deploy(ctx, t, v); err != nil {
		return fmt.Errorf("restoring the original version: %w", err)
	}
	return nil
}

// SourceSuite is the conformance suite for a team's own [alarm.Source]:
// run it with [TestSource] or [RunSource] against a source that holds
// data.
//
// The checks, by name:
//
//   - "data": every query of Queries returns points, in strictly
//     increasing time order, all within the range asked for.
//   - "subrange": a narrower range returns only points within it, with
//     the same values at the same times as the whole range.
//   - "cancelled": a cancelled context makes Query fail with an error
//     that wraps [context.Canceled].
//   - "bad-range": a range that ends before it starts is an error.
//   - "missing" (when Missing is set): a well-formed query with no data
//     returns an empty series and no error (empty is not an error).
//   - "bad-query" (when Bad is set): a malformed query is an error, not
//     an empty series (an error is not empty).
type SourceSuite struct {
	// Source is the implementation under test. Required.
	Source alarm.Source
	// Queries have data in Range. At least one is required.
	Queries []string
	// Range is where Queries have data; it should hold at least two
	// steps. Zero means the ten minutes before the current minute, at a
	// one-minute step.
	Range alarm.Range
	// Missing is a well-formed query without data in Range. Empty skips
	// the "missing" check.
	Missing string
	// Bad is a query the source must refuse. Empty skips the "bad-query"
	// check.
	Bad string
}

// TestSource runs every check of the suite and returns the failures
// joined, each a [*CheckError], or nil when the source conforms.
func TestSource(ctx context.Context, s SourceSuite) error {
	checks, err := s.checks()
	if err != nil {
		return err
	}
	return runChecks(ctx, "source", checks)
}

// RunSource runs every check of the suite as a subtest of t (outside a
// testing/synctest bubble; see [RunDeployer]).
func RunSource(t *testing.T, s SourceSuite) {
	t.Helper()
	checks, err := s.checks()
	if err != nil {
		t.Fatal(err)
	}
	runSubtests(t, checks, "missing", "bad-query")
}

func (s *SourceSuite) checks() ([]check, error) {
	var ps problems
	if s.Source == nil {
		ps.add("SourceSuite.Source", "nil")
	}
	if len(s.Queries) == 0 {
		ps.add("SourceSuite.Queries", "empty")
	}
	r := s.Range
	if r == (alarm.Range{}) {
		end := time.Now().Truncate(time.Minute)
		r = alarm.Range{Start: end.Add(-10 * time.Minute), End: end, Step: time.Minute}
	}
	if err := r.Validate(); err != nil {
		ps.add("SourceSuite.Range", "%v", err)
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	within := func(q string, rr alarm.Range, ser alarm.Series) error {
		if err := ser.Validate(); err != nil {
			return fmt.Errorf("query %q: %w", q, err)
		}
		for i, p := range ser.Points {
			if p.Time.Before(rr.Start) || p.Time.After(rr.End) {
				return fmt.Errorf("query %q over [%s, %s]: point %d at %s is outside the range",
					q, rr.Start.Format(time.RFC3339), rr.End.Format(time.RFC3339), i, p.Time.Format(time.RFC3339))
			}
		}
		return nil
	}
	checks := []check{
		{"data", func(ctx context.Context) error {
			var errs []error
			for _, q := range s.Queries {
				ser, err := s.Source.Query(ctx, q, r)
				switch {
				case err != nil:
					errs = append(errs, fmt.Errorf("query %q: %w", q, err))
				case len(ser.Points) == 0:
					errs = append(errs, fmt.Errorf("query %q over [%s, %s] returned no points; the suite needs queries with data",
						q, r.Start.Format(time.RFC3339), r.End.Format(time.RFC3339)))
				default:
					if err := within(q, r, ser); err != nil {
						errs = append(errs, err)
					}
				}
			}
			return errors.Join(errs...)
		}},
		{"subrange", func(ctx context.Context) error {
			half := r
			half.Start = r.Start.Add(r.End.Sub(r.Start) / 2 / r.Step * r.Step)
			var errs []error
			for _, q := range s.Queries {
				all, err := s.Source.Query(ctx, q, r)
				if err != nil {
					errs = append(errs, fmt.Errorf("query %q: %w", q, err))
					continue
				}
				part, err := s.Source.Query(ctx, q, half)
				if err != nil {
					errs = append(errs, fmt.Errorf("query %q over a narrower range: %w", q, err))
					continue
				}
				if err := within(q, half, part); err != nil {
					errs = append(errs, err)
					continue
				}
				at := map[time.Time]float64{}
				for _, p := range all.Points {
					at[p.Time] = p.Value
				}
				for _, p := range part.Points {
					v, ok := at[p.Time]
					if ok && v != p.Value && !(math.IsNaN(v) && math.IsNaN(p.Value)) {
						errs = append(errs, fmt.Errorf("query %q: the point at %s is %v over the whole range and %v over a narrower one",
							q, p.Time.Format(time.RFC3339), v, p.Value))
						break
					}
				}
			}
			return errors.Join(errs...)
		}},
		{"cancelled", func(ctx context.Context) error {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			ser, err := s.Source.Query(cctx, s.Queries[0], r)
			switch {
			case err == nil:
				return fmt.Errorf("query %q with a cancelled context returned %d points and no error", s.Queries[0], len(ser.Points))
			case !errors.Is(err, context.Canceled):
				return fmt.Errorf("query %q with a cancelled context returned %q, which does not wrap context.Canceled", s.Queries[0], err)
			}
			return nil
		}},
		{"bad-range", func(ctx context.Context) error {
			bad := alarm.Range{Start: r.End, End: r.Start.Add(-r.Step), Step: r.Step}
			ser, err := s.Source.Query(ctx, s.Queries[0], bad)
			if err == nil {
				return fmt.Errorf("query %q over a range that ends before it starts returned %d points and no error", s.Queries[0], len(ser.Points))
			}
			return nil
		}},
	}
	if s.Missing != "" {
		checks = append(checks, check{"missing", func(ctx context.Context) error {
			ser, err := s.Source.Query(ctx, s.Missing, r)
			switch {
			case err != nil:
				return fmt.Errorf("query %q without data returned an error (no data is an empty series, not an error): %w", s.Missing, err)
			case len(ser.Points) > 0:
				return fmt.Errorf("query %q, which should have no data, returned %d points", s.Missing, len(ser.Points))
			}
			return nil
		}})
	}
	if s.Bad != "" {
		checks = append(checks, check{"bad-query", func(ctx context.Context) error {
			ser, err := s.Source.Query(ctx, s.Bad, r)
			if err == nil {
				return fmt.Errorf("malformed query %q returned %d points and no error (a source that cannot answer must say so)", s.Bad, len(ser.Points))
			}
			return nil
		}})
	}
	return checks, nil
}
