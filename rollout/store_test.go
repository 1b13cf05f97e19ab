package rollout_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
)

func testState(t *testing.T) *rollout.State {
	t.Helper()
	st, err := rollout.NewState("s1", rollouttest.AWSPlan(2, 2, 3), "v2", rollout.Policy{}, monday9)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	st := testState(t)
	// Advance a little so that the state has some history.
	out, err := st.Step(monday9)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Actions) != 1 || out.Actions[0].Kind != rollout.ActionCheckBlockers {
		t.Fatalf("first actions %+v, want a blocker check", out.Actions)
	}
	data, err := rollout.EncodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rollout.DecodeState(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, got, cmpopts.IgnoreUnexported(rollout.State{}), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	again, _ := rollout.EncodeState(got)
	if !bytes.Equal(data, again) {
		t.Error("re-encoding a decoded state gives different bytes")
	}
}

func TestDecodeStateErrors(t *testing.T) {
	st := testState(t)
	good, err := rollout.EncodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	flip := bytes.Clone(good)
	i := bytes.Index(flip, []byte(`"version":"v2"`))
	flip[i+len(`"version":"v`)] = '3' // same length, different content
	newer := bytes.Replace(good, []byte(fmt.Sprintf(`{"schema":%d,`, rollout.SchemaVersion)), []byte(fmt.Sprintf(`{"schema":%d,`, rollout.SchemaVersion+1)), 1)
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"truncated", good[:len(good)/2], rollout.ErrCorrupt},
		{"flipped byte", flip, rollout.ErrCorrupt},
		{"not json", []byte("hello"), rollout.ErrCorrupt},
		{"empty", nil, rollout.ErrCorrupt},
		{"newer schema", newer, rollout.ErrSchema},
		{"zero schema", []byte(`{"schema":0,"checksum":"","state":{}}`), rollout.ErrCorrupt},
		{"null", []byte(`null`), rollout.ErrCorrupt},
		{"null state", []byte(`{"schema":2,"checksum":"","state":null}`), rollout.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rollout.DecodeState(tc.data)
			if !errors.Is(err, tc.want) {
				t.Fatalf("DecodeState = %v, want %v", err, tc.want)
			}
			if tc.want == rollout.ErrSchema {
				var se *rollout.SchemaError
				if !errors.As(err, &se) || se.Want != rollout.SchemaVersion {
					t.Errorf("error %v is not a *SchemaError", err)
				}
			}
		})
	}
}

// stores runs f against each store implementation.
func stores(t *testing.T, f func(t *testing.T, s rollout.Store)) {
	t.Run("memory", func(t *testing.T) { f(t, new(rollout.MemoryStore)) })
	t.Run("file", func(t *testing.T) { f(t, &rollout.FileStore{Dir: t.TempDir()}) })
}

func TestStoreLeaseAndFencing(t *testing.T) {
	stores(t, func(t *testing.T, s rollout.Store) {
		ctx := context.Background()
		data, tok, err := s.Load(ctx, "r1")
		if err != nil || data != nil {
			t.Fatalf("first Load = %q, %v; want nothing, nil", data, err)
		}
		if _, _, err := s.Load(ctx, "r1"); !errors.Is(err, rollout.ErrLocked) {
			t.Fatalf("second Load = %v, want ErrLocked", err)
		}
		if _, _, err := s.Load(ctx, "r2"); err != nil {
			t.Fatalf("Load of another rollout = %v", err)
		}
		if err := s.Save(ctx, "r1", tok, []byte("one")); err != nil {
			t.Fatal(err)
		}
		if err := s.Save(ctx, "r1", tok+100, []byte("two")); !errors.Is(err, rollout.ErrFenced) {
			t.Fatalf("Save with a wrong token = %v, want ErrFenced", err)
		}
		if err := s.Release(context.Background(), "r1", tok); err != nil {
			t.Fatal(err)
		}
		if err := s.Release(context.Background(), "r1", tok); err != nil {
			t.Fatalf("second Release = %v, want nil (idempotent)", err)
		}
		if err := s.Save(ctx, "r1", tok, []byte("three")); !errors.Is(err, rollout.ErrFenced) {
			t.Fatalf("Save after Release = %v, want ErrFenced", err)
		}
		data, tok2, err := s.Load(ctx, "r1")
		if err != nil || string(data) != "one" {
			t.Fatalf("Load after Release = %q, %v; want \"one\"", data, err)
		}
		if tok2 <= tok {
			t.Errorf("token %d after %d: tokens must grow", tok2, tok)
		}
	})
}

func TestFileStoreFiles(t *testing.T) {
	dir := t.TempDir()
	s := &rollout.FileStore{Dir: dir}
	ctx := context.Background()
	if _, _, err := s.Load(ctx, "../evil"); !errors.Is(err, rollout.ErrInvalid) {
		t.Errorf("Load(../evil) = %v, want ErrInvalid", err)
	}
	_, tok, err := s.Load(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Save(ctx, "r1", tok, []byte(strings.Repeat("x", i+1))); err != nil {
			t.Fatal(err)
		}
	}
	got, _, err := (&rollout.FileStore{Dir: dir}).Load(ctx, "r1")
	if !errors.Is(err, rollout.ErrLocked) {
		t.Fatalf("Load by another store = %q, %v; want ErrLocked", got, err)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"r1.journal", "r1.lock"}, names); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	// A second store on the same directory (as another process would be)
	// is locked out by the OS lock.
	other := &rollout.FileStore{Dir: dir}
	if _, _, err := other.Load(ctx, "r1"); !errors.Is(err, rollout.ErrLocked) {
		t.Errorf("other store Load = %v, want ErrLocked", err)
	}
	s.Release(context.Background(), "r1", tok)
	if got, _, err := other.Load(ctx, "r1"); err != nil || string(got) != "xxx" {
		t.Errorf("other store Load after release = %q, %v; want \"xxx\"", got, err)
	}
}

func TestSecondDriverGetsErrLocked(t *testing.T) {
	stores(t, func(t *testing.T, s rollout.Store) {
		plan := rollouttest.ZeroBake(rollouttest.AWSPlan(1, 1, 3))
		f := rollouttest.NewMemFleet(plan, "v1")
		ctx := context.Background()
		r, err := rollout.Create(ctx, rollout.Spec{ID: "lease", Plan: plan, Version: "v2", Policy: rollout.Policy{}}, f, rollout.Config{Store: s})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rollout.Open(ctx, "lease", f, rollout.Config{Store: s}); !errors.Is(err, rollout.ErrLocked) {
			t.Fatalf("second driver: Resume = %v, want ErrLocked", err)
		}
		if _, err := rollout.Create(ctx, rollout.Spec{ID: "lease", Plan: plan, Version: "v2", Policy: rollout.Policy{}}, f, rollout.Config{Store: s}); !errors.Is(err, rollout.ErrLocked) {
			t.Fatalf("second driver: New = %v, want ErrLocked", err)
		}
		r.Close()
		if _, err := rollout.Create(ctx, rollout.Spec{ID: "lease", Plan: plan, Version: "v2", Policy: rollout.Policy{}}, f, rollout.Config{Store: s}); !errors.Is(err, rollout.ErrExists) {
			t.Fatalf("New of a recorded rollout = %v, want ErrExists", err)
		}
		r2, err := rollout.Open(ctx, "lease", f, rollout.Config{Store: s})
		if err != nil {
			t.Fatalf("Resume after Close = %v", err)
		}
		if err := r2.Run(ctx); err != nil {
			t.Fatalf("Run = %v", err)
		}
		if _, err := rollout.Open(ctx, "missing", f, rollout.Config{Store: s}); !errors.Is(err, rollout.ErrNotFound) {
			t.Fatalf("Resume of an unknown rollout = %v, want ErrNotFound", err)
		}
	})
}

func TestFileStoreResumesAcrossRunners(t *testing.T) {
	dir := t.TempDir()
	// Zero bakes keep this real-time test short.
	plan := rollouttest.ZeroBake(rollouttest.AWSPlan(2, 1, 3))
	f := rollouttest.NewMemFleet(plan, "v1")
	ctx, cancel := context.WithCancel(context.Background())
	deployed := 0
	r, err := rollout.Create(ctx, rollout.Spec{ID: "file-run", Plan: plan, Version: "v2", Policy: rollout.Policy{}}, f, rollout.Config{
		Store: &rollout.FileStore{Dir: dir},
		OnEvent: func(e rollout.Event) {
			if e.Kind == rollout.EventTargetDeployed {
				if deployed++; deployed == 2 {
					cancel()
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want cancelled", err)
	}
	r2, err := rollout.Open(context.Background(), "file-run", f, rollout.Config{Store: &rollout.FileStore{Dir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r2.Run(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("resumed run did not finish")
	}
	for id, v := range f.Snapshot() {
		if v != "v2" {
			t.Errorf("%s runs %s", id, v)
		}
	}
}
