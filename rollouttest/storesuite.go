package rollouttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/wave"
)

// StoreSuite is the conformance suite for a [rollout.Store], the memory
// and file stores of package rollout, a database store, or a team's own,
// in the manner of testing/slogtest: run it with [TestStore] (which returns
// every failure, joined) or [RunStore] (one subtest per check). Every
// check uses rollout IDs of its own, made of letters, digits and '-' with
// a random part, so that the suite can run against storage that outlives
// it; it leaves no lease held.
//
// The checks, by name:
//
//   - "new": Load of a rollout never saved returns no bytes and no error.
//   - "round-trip": Load after Save and Release returns the saved bytes,
//     byte for byte, with a larger token; Save keeps a copy, not the
//     caller's buffer (which the driver reuses).
//   - "states": the encoded states of a real rollout of 1,200 targets
//     ([rollout.EncodeState], one for each save the driver made), saved
//     in order under one lease and read back between leases, each
//     exactly. A store that keeps deltas must get every one right.
//   - "locked": a second Load of a held rollout fails with
//     [rollout.ErrLocked]; other rollouts are not affected.
//   - "fenced": Save with a token that is not the holder's fails with
//     [rollout.ErrFenced] and changes nothing: a wrong token, the token
//     of a lease released, the token of a lease taken over; and a
//     Release with a stale token does not release the new holder's lease.
//   - "release": Release is idempotent, and a no-op for a rollout not held.
//   - "cancelled": with a cancelled context, Load and Save fail with an
//     error that wraps [context.Canceled]; Load takes no lease and Save
//     changes nothing.
//   - "concurrent": of many Loads of one rollout at once exactly one
//     gets the lease and the others [rollout.ErrLocked]; then drivers of
//     different rollouts save and load at once without mixing them up.
//   - "large": 4 MiB of arbitrary (non-JSON) bytes round-trip.
//   - "peer" (when Peer is set): a second store on the same storage is
//     locked out while the first holds the lease, takes the rollout over
//     once it is released, and fences the first's token off.
//   - "corrupt" (when Corrupt is set): a state damaged in the storage
//     is refused, by Load with [rollout.ErrCorrupt] or by
//     [rollout.DecodeState]; it is never returned as a valid state nor
//     treated as a new rollout.
type StoreSuite struct {
	// Store is the implementation under test. Required.
	Store rollout.Store
	// Peer is a second store on the same storage as Store, the way
	// another process would open it: a second [rollout.FileStore] on the
	// same directory, a second connection to the same database. Nil
	// skips the "peer" check.
	Peer rollout.Store
	// Corrupt damages whatever Store keeps for rollout id (flips a byte
	// of it, say), as a disk or an operator might. Nil skips the
	// "corrupt" check.
	Corrupt func(id string) error
	// Timeout bounds each call: a call that has not returned by then
	// fails its check. Zero means [DefaultCallTimeout].
	Timeout time.Duration
}

// TestStore runs every check of the suite and returns the failures
// joined, each a [*CheckError] naming its check and what went wrong, or
// nil when the store conforms.
func TestStore(ctx context.Context, s StoreSuite) error {
	checks, err := s.checks()
	if err != nil {
		return err
	}
	return runChecks(ctx, "store", checks)
}

// RunStore runs every check of the suite as a subtest of t, named after
// the check. Checks whose input is not set (Peer, Corrupt) are skipped.
func RunStore(t *testing.T, s StoreSuite) {
	t.Helper()
	checks, err := s.checks()
	if err != nil {
		t.Fatal(err)
	}
	runSubtests(t, checks, "peer", "corrupt")
}

// storeCalls wraps a store's methods with the suite's bounded wait and
// error messages that name the call.
type storeCalls struct {
	s       rollout.Store
	name    string // "Store" or "Peer"
	timeout time.Duration
}

func (c storeCalls) call(what string, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	t := time.NewTimer(c.timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return &hungError{what, c.timeout}
	}
}

func (c storeCalls) load(ctx context.Context, id string) (data []byte, token uint64, err error) {
	what := fmt.Sprintf("%s.Load(%s)", c.name, id)
	err = c.call(what, func() (err error) {
		data, token, err = c.s.Load(ctx, id)
		return err
	})
	return data, token, wrap(what, err)
}

func (c storeCalls) save(ctx context.Context, id string, token uint64, data []byte) error {
	what := fmt.Sprintf("%s.Save(%s, %d, %d bytes)", c.name, id, token, len(data))
	return wrap(what, c.call(what, func() error { return c.s.Save(ctx, id, token, data) }))
}

func (c storeCalls) release(ctx context.Context, id string, token uint64) error {
	what := fmt.Sprintf("%s.Release(%s, %d)", c.name, id, token)
	return wrap(what, c.call(what, func() error { return c.s.Release(ctx, id, token) }))
}

// expect loads id and compares its bytes with want, then releases it,
// and returns the token the load got.
func (c storeCalls) expect(ctx context.Context, id string, want []byte, after string) (uint64, error) {
	got, tok, err := c.load(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("after %s: %w", after, err)
	}
	defer c.release(context.WithoutCancel(ctx), id, tok)
	if !bytes.Equal(got, want) {
		return tok, fmt.Errorf("after %s, Load(%s) returned %s, want %s", after, id, describe(got), describe(want))
	}
	return tok, nil
}

// describe says what a payload is, briefly: its length, where it differs
// from what was wanted is left to the caller.
func describe(b []byte) string {
	if b == nil {
		return "nothing"
	}
	if len(b) <= 40 {
		return strconv.Quote(string(b))
	}
	return fmt.Sprintf("%d bytes starting %q", len(b), b[:40])
}

func (s *StoreSuite) checks() ([]check, error) {
	var ps problems
	if s.Store == nil {
		ps.add("StoreSuite.Store", "nil")
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	st := storeCalls{s.Store, "Store", timeout}
	run := strconv.FormatUint(rand.Uint64()>>16, 36)
	id := func(check string, n ...int) string {
		v := "conformance-" + check + "-" + run
		for _, i := range n {
			v += "-" + strconv.Itoa(i)
		}
		return v
	}
	// hold loads a new rollout and returns its token.
	hold := func(ctx context.Context, c storeCalls, id string) (uint64, error) {
		data, tok, err := c.load(ctx, id)
		if err != nil {
			return 0, err
		}
		if data != nil {
			c.release(context.WithoutCancel(ctx), id, tok)
			return 0, fmt.Errorf("%s.Load(%s) of a new rollout returned %s, want nothing", c.name, id, describe(data))
		}
		return tok, nil
	}
	checks := []check{
		{"new", func(ctx context.Context) error {
			r := id("new")
			tok, err := hold(ctx, st, r)
			if err != nil {
				return err
			}
			return st.release(ctx, r, tok)
		}},
		{"round-trip", func(ctx context.Context) error {
			r := id("round-trip")
			tok, err := hold(ctx, st, r)
			if err != nil {
				return err
			}
			buf := []byte("first state")
			if err := st.save(ctx, r, tok, buf); err != nil {
				return err
			}
			want := bytes.Clone(buf)
			copy(buf, "XXXXX") // the driver reuses its buffer
			if err := st.release(ctx, r, tok); err != nil {
				return err
			}
			tok2, err := st.expect(ctx, r, want, "Save, the caller's reuse of the buffer, and Release")
			if err != nil {
				return err
			}
			if tok2 <= tok {
				return fmt.Errorf("the lease after token %d got token %d: tokens must grow with every lease", tok, tok2)
			}
			// Saves replace: the last one is what Load returns.
			_, tok3, err := st.load(ctx, r)
			if err != nil {
				return err
			}
			for _, v := range []string{"second", "third state, longer than the others", "4"} {
				if err := st.save(ctx, r, tok3, []byte(v)); err != nil {
					return err
				}
			}
			if err := st.release(ctx, r, tok3); err != nil {
				return err
			}
			_, err = st.expect(ctx, r, []byte("4"), "three saves")
			return err
		}},
		{"states", func(ctx context.Context) error {
			states, err := rolloutStates(ctx)
			if err != nil {
				return fmt.Errorf("recording a rollout's states: %w", err)
			}
			r := id("states")
			tok, err := hold(ctx, st, r)
			if err != nil {
				return err
			}
			for i, data := range states {
				if err := st.save(ctx, r, tok, data); err != nil {
					return fmt.Errorf("state %d of %d: %w", i+1, len(states), err)
				}
				// Read back now and then, and at the end, under a new
				// lease, as a driver that resumes would.
				if i%7 == 3 || i == len(states)-1 {
					if err := st.release(ctx, r, tok); err != nil {
						return err
					}
					if tok, err = st.expect(ctx, r, data, fmt.Sprintf("saving state %d of %d", i+1, len(states))); err != nil {
						return err
					}
					if _, tok, err = st.load(ctx, r); err != nil {
						return err
					}
				}
			}
			if err := st.release(ctx, r, tok); err != nil {
				return err
			}
			got, tok, err := st.load(ctx, r)
			if err != nil {
				return err
			}
			defer st.release(context.WithoutCancel(ctx), r, tok)
			if _, err := rollout.DecodeState(got); err != nil {
				return fmt.Errorf("the last state read back does not decode: %w", err)
			}
			return nil
		}},
		{"locked", func(ctx context.Context) error {
			r, other := id("locked"), id("locked", 2)
			tok, err := hold(ctx, st, r)
			if err != nil {
				return err
			}
			defer st.release(context.WithoutCancel(ctx), r, tok)
			if _, tok2, err := st.load(ctx, r); !errors.Is(err, rollout.ErrLocked) {
				if err == nil {
					st.release(context.WithoutCancel(ctx), r, tok2)
				}
				return fmt.Errorf("a second Load of a held rollout returned %v, want rollout.ErrLocked", err)
			}
			tokOther, err := hold(ctx, st, other)
			if err != nil {
				return fmt.Errorf("another rollout while one is held: %w", err)
			}
			if err := st.save(ctx, r, tok, []byte("still mine")); err != nil {
				return fmt.Errorf("the holder after a refused Load: %w", err)
			}
			return st.release(ctx, other, tokOther)
		}},
		{"fenced", func(ctx context.Context) error {
			r := id("fenced")
			tok, err := hold(ctx, st, r)
			if err != nil {
				return err
			}
			if err := st.save(ctx, r, tok, []byte("one")); err != nil {
				return err
			}
			var errs []error
			fenced := func(what string, tok uint64, data string) {
				err := st.save(ctx, r, tok, []byte(data))
				if !errors.Is(err, rollout.ErrFenced) {
					errs = append(errs, fmt.Errorf("Save with %s returned %v, want rollout.ErrFenced", what, err))
				}
			}
			fenced("a token that is not the holder's", tok+1000, "wrong")
			if err := st.release(ctx, r, tok); err != nil {
				return err
			}
			fenced("the token of a released lease", tok, "released")
			_, tok2, err := st.load(ctx, r)
			if err != nil {
				return errors.Join(append(errs, err)...)
			}
			fenced("the token of a lease taken over", tok, "stale")
			// A stale holder's Release must not free its successor's
			// lease.
			if err := st.release(ctx, r, tok); err != nil {
				errs = append(errs, err)
			}
			if _, tok3, err := st.load(ctx, r); !errors.Is(err, rollout.ErrLocked) {
				if err == nil {
					st.release(context.WithoutCancel(ctx), r, tok3)
				}
				errs = append(errs, fmt.Errorf("Load after a Release with a stale token returned %v, want rollout.ErrLocked (the stale Release freed the new holder's lease)", err))
			}
			if err := st.release(ctx, r, tok2); err != nil {
				errs = append(errs, err)
			}
			if _, err := st.expect(ctx, r, []byte("one"), "fenced saves"); err != nil {
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		}},
		{"release", func(ctx context.Context) error {
			r := id("release")
			if err := st.release(ctx, r, 1); err != nil {
				return fmt.Errorf("Release of a rollout never loaded: %w", err)
			}
			tok, err := hold(ctx, st, r)
			if err != nil {
				return err
			}
			for range 2 {
				if err := st.release(ctx, r, tok); err != nil {
					return fmt.Errorf("Release must be idempotent: %w", err)
				}
			}
			tok, err = hold(ctx, st, r)
			if err != nil {
				return fmt.Errorf("after two Releases: %w", err)
			}
			return st.release(ctx, r, tok)
		}},
		{"cancelled", func(ctx context.Context) error {
			r := id("cancelled")
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if _, tok, err := st.load(cctx, r); !errors.Is(err, context.Canceled) {
				if err == nil {
					st.release(ctx, r, tok)
				}
				return fmt.Errorf("Load with a cancelled context returned %v, which does not wrap context.Canceled", err)
			}
			tok, err := hold(ctx, st, r)
			if err != nil {
				return fmt.Errorf("after a cancelled Load (which must take no lease): %w", err)
			}
			if err := st.save(ctx, r, tok, []byte("kept")); err != nil {
				return err
			}
			if err := st.save(cctx, r, tok, []byte("cancelled")); !errors.Is(err, context.Canceled) {
				return fmt.Errorf("Save with a cancelled context returned %v, which does not wrap context.Canceled", err)
			}
			if err := st.release(ctx, r, tok); err != nil {
				return err
			}
			_, err = st.expect(ctx, r, []byte("kept"), "a cancelled Save")
			return err
		}},
		{"concurrent", func(ctx context.Context) error {
			const n = 8
			r := id("concurrent")
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				tokens []uint64
				errs   []error
			)
			start := make(chan struct{})
			for range n {
				wg.Go(func() {
					<-start
					_, tok, err := st.load(ctx, r)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						tokens = append(tokens, tok)
					case !errors.Is(err, rollout.ErrLocked):
						errs = append(errs, err)
					}
				})
			}
			close(start)
			wg.Wait()
			for _, tok := range tokens {
				st.release(context.WithoutCancel(ctx), r, tok)
			}
			if len(tokens) != 1 {
				errs = append(errs, fmt.Errorf("%d concurrent Loads of one rollout: %d got the lease, want exactly 1", n, len(tokens)))
			}
			if err := errors.Join(errs...); err != nil {
				return err
			}
			// Drivers of different rollouts at once.
			for i := range n {
				wg.Go(func() {
					r := id("concurrent", i)
					err := func() error {
						tok, err := hold(ctx, st, r)
						if err != nil {
							return err
						}
						for j := range 5 {
							if err := st.save(ctx, r, tok, []byte(r+" save "+strconv.Itoa(j))); err != nil {
								return err
							}
						}
						if err := st.release(ctx, r, tok); err != nil {
							return err
						}
						_, err = st.expect(ctx, r, []byte(r+" save 4"), "concurrent saves of other rollouts")
						return err
					}()
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			return errors.Join(errs...)
		}},
		{"large", func(ctx context.Context) error {
			r := id("large")
			data := make([]byte, 4<<20)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			tok, err := hold(ctx, st, r)
			if err != nil {
				return err
			}
			if err := st.save(ctx, r, tok, data); err != nil {
				return err
			}
			if err := st.release(ctx, r, tok); err != nil {
				return err
			}
			_, err = st.expect(ctx, r, data, "saving 4 MiB")
			return err
		}},
	}
	if s.Peer != nil {
		peer := storeCalls{s.Peer, "Peer", timeout}
		checks = append(checks, check{"peer", func(ctx context.Context) error {
			r := id("peer")
			tok, err := hold(ctx, st, r)
			if err != nil {
				return err
			}
			if err := st.save(ctx, r, tok, []byte("from the first")); err != nil {
				return err
			}
			if _, tok2, err := peer.load(ctx, r); !errors.Is(err, rollout.ErrLocked) {
				if err == nil {
					peer.release(context.WithoutCancel(ctx), r, tok2)
				}
				return fmt.Errorf("Peer.Load while Store holds the lease returned %v, want rollout.ErrLocked", err)
			}
			if err := st.release(ctx, r, tok); err != nil {
				return err
			}
			got, tok2, err := peer.load(ctx, r)
			if err != nil {
				return err
			}
			defer peer.release(context.WithoutCancel(ctx), r, tok2)
			if string(got) != "from the first" {
				return fmt.Errorf("Peer.Load returned %s, want %q", describe(got), "from the first")
			}
			if tok2 <= tok {
				return fmt.Errorf("Peer's lease got token %d after Store's %d: tokens must grow across stores on the same storage", tok2, tok)
			}
			if err := st.save(ctx, r, tok, []byte("stale")); !errors.Is(err, rollout.ErrFenced) {
				return fmt.Errorf("Store.Save with its token after Peer took over returned %v, want rollout.ErrFenced", err)
			}
			return peer.save(ctx, r, tok2, []byte("from the peer"))
		}})
	}
	if s.Corrupt != nil {
		checks = append(checks, check{"corrupt", func(ctx context.Context) error {
			states, err := rolloutStates(ctx)
			if err != nil {
				return fmt.Errorf("recording a rollout's states: %w", err)
			}
			r := id("corrupt")
			tok, err := hold(ctx, st, r)
			if err != nil {
				return err
			}
			for _, data := range states[:3] {
				if err := st.save(ctx, r, tok, data); err != nil {
					return err
				}
			}
			if err := st.release(ctx, r, tok); err != nil {
				return err
			}
			if err := s.Corrupt(r); err != nil {
				return fmt.Errorf("Corrupt(%s): %w", r, err)
			}
			for range 2 { // the refusal takes no lease: the second is refused the same way
				data, tok, err := st.load(ctx, r)
				if err == nil {
					st.release(context.WithoutCancel(ctx), r, tok)
					if data == nil {
						return errors.New("Load of a damaged rollout returned nothing: it would be started again from scratch")
					}
					if _, err = rollout.DecodeState(data); err == nil {
						return errors.New("Load of a damaged rollout returned a state that decodes")
					}
				}
				if !errors.Is(err, rollout.ErrCorrupt) {
					return fmt.Errorf("Load of a damaged rollout: %v, want rollout.ErrCorrupt", err)
				}
			}
			return nil
		}})
	}
	return checks, nil
}

var recorded struct {
	once   sync.Once
	states [][]byte
	err    error
}

// rolloutStates returns the states a driver saved while it ran a rollout
// of 1,200 targets (several chunks of the encoding), each as
// [rollout.EncodeState] made it. They are recorded once.
func rolloutStates(ctx context.Context) ([][]byte, error) {
	recorded.once.Do(func() {
		none := wave.BakeSchedule{OneBox: duration.None, Zone: duration.None, FirstWave: duration.None, LaterWaves: duration.None, Final: duration.None}
		plan, err := wave.Policy{Bake: none}.Plan(Hosts([]string{"us-east-1", "eu-west-1", "ap-southeast-2"}, 4, 100))
		if err != nil {
			recorded.err = err
			return
		}
		rec := &stateRecorder{}
		r, err := rollout.Create(context.WithoutCancel(ctx), rollout.Spec{ID: "recorded", Plan: *plan, Version: "v2"},
			&versions{}, rollout.Config{Store: rec})
		if err != nil {
			recorded.err = err
			return
		}
		if err := r.Run(context.WithoutCancel(ctx)); err != nil {
			recorded.err = err
			return
		}
		recorded.states = rec.states
	})
	return recorded.states, recorded.err
}

// stateRecorder is a memory store that keeps every state saved.
type stateRecorder struct {
	rollout.MemoryStore
	states [][]byte
}

func (r *stateRecorder) Save(ctx context.Context, id string, token uint64, data []byte) error {
	r.states = append(r.states, bytes.Clone(data))
	return r.MemoryStore.Save(ctx, id, token, data)
}

// versions is a deployer whose deploys land at once.
type versions struct{ m sync.Map }

func (v *versions) Deploy(_ context.Context, t wave.Target, version string) error {
	v.m.Store(t.ID, version)
	return nil
}

func (v *versions) Version(_ context.Context, t wave.Target) (string, error) {
	if x, ok := v.m.Load(t.ID); ok {
		return x.(string), nil
	}
	return "v1", nil
}
