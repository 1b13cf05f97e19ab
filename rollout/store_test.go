package rollout

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
)

func testState(t *testing.T) *State {
	t.Helper()
	st, err := NewState("s1", awsPlan(2, 2, 3), "v2", Policy{}, monday9)
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
	if len(out.Actions) != 1 || out.Actions[0].Kind != ActionCheckBlockers {
		t.Fatalf("first actions %+v, want a blocker check", out.Actions)
	}
	data, err := EncodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeState(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, got, cmpopts.IgnoreUnexported(State{}), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	again, _ := EncodeState(got)
	if !bytes.Equal(data, again) {
		t.Error("re-encoding a decoded state gives different bytes")
	}
}

func TestDecodeStateErrors(t *testing.T) {
	st := testState(t)
	good, err := EncodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	flip := bytes.Clone(good)
	i := bytes.Index(flip, []byte(`"version":"v2"`))
	flip[i+len(`"version":"v`)] = '3' // same length, different content
	newer := bytes.Replace(good, []byte(fmt.Sprintf(`{"schema":%d,`, SchemaVersion)), []byte(fmt.Sprintf(`{"schema":%d,`, SchemaVersion+1)), 1)
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"truncated", good[:len(good)/2], ErrCorrupt},
		{"flipped byte", flip, ErrCorrupt},
		{"not json", []byte("hello"), ErrCorrupt},
		{"empty", nil, ErrCorrupt},
		{"newer schema", newer, ErrSchema},
		{"zero schema", []byte(`{"schema":0,"checksum":"","state":{}}`), ErrCorrupt},
		{"null", []byte(`null`), ErrCorrupt},
		{"null state", []byte(`{"schema":2,"checksum":"","state":null}`), ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeState(tc.data)
			if !errors.Is(err, tc.want) {
				t.Fatalf("DecodeState = %v, want %v", err, tc.want)
			}
			if tc.want == ErrSchema {
				var se *SchemaError
				if !errors.As(err, &se) || se.Want != SchemaVersion {
					t.Errorf("error %v is not a *SchemaError", err)
				}
			}
		})
	}
}

// stores runs f against each store implementation.
func stores(t *testing.T, f func(t *testing.T, s Store)) {
	t.Run("memory", func(t *testing.T) { f(t, new(MemoryStore)) })
	t.Run("file", func(t *testing.T) { f(t, &FileStore{Dir: t.TempDir()}) })
}

func TestStoreLeaseAndFencing(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		data, tok, err := s.Load(ctx, "r1")
		if err != nil || data != nil {
			t.Fatalf("first Load = %q, %v; want nothing, nil", data, err)
		}
		if _, _, err := s.Load(ctx, "r1"); !errors.Is(err, ErrLocked) {
			t.Fatalf("second Load = %v, want ErrLocked", err)
		}
		if _, _, err := s.Load(ctx, "r2"); err != nil {
			t.Fatalf("Load of another rollout = %v", err)
		}
		if err := s.Save(ctx, "r1", tok, []byte("one")); err != nil {
			t.Fatal(err)
		}
		if err := s.Save(ctx, "r1", tok+100, []byte("two")); !errors.Is(err, ErrFenced) {
			t.Fatalf("Save with a wrong token = %v, want ErrFenced", err)
		}
		if err := s.Release(context.Background(), "r1", tok); err != nil {
			t.Fatal(err)
		}
		if err := s.Release(context.Background(), "r1", tok); err != nil {
			t.Fatalf("second Release = %v, want nil (idempotent)", err)
		}
		if err := s.Save(ctx, "r1", tok, []byte("three")); !errors.Is(err, ErrFenced) {
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
	s := &FileStore{Dir: dir}
	ctx := context.Background()
	if _, _, err := s.Load(ctx, "../evil"); !errors.Is(err, ErrInvalid) {
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
	got, _, err := (&FileStore{Dir: dir}).Load(ctx, "r1")
	if !errors.Is(err, ErrLocked) {
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
	other := &FileStore{Dir: dir}
	if _, _, err := other.Load(ctx, "r1"); !errors.Is(err, ErrLocked) {
		t.Errorf("other store Load = %v, want ErrLocked", err)
	}
	s.Release(context.Background(), "r1", tok)
	if got, _, err := other.Load(ctx, "r1"); err != nil || string(got) != "xxx" {
		t.Errorf("other store Load after release = %q, %v; want \"xxx\"", got, err)
	}
}

func TestSecondDriverGetsErrLocked(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		plan := zeroBake(awsPlan(1, 1, 3))
		f := newFleet(plan, "v1")
		ctx := context.Background()
		r, err := Create(ctx, Spec{ID: "lease", Plan: plan, Version: "v2", Policy: Policy{}}, f, Config{Store: s})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ctx, "lease", f, Config{Store: s}); !errors.Is(err, ErrLocked) {
			t.Fatalf("second driver: Resume = %v, want ErrLocked", err)
		}
		if _, err := Create(ctx, Spec{ID: "lease", Plan: plan, Version: "v2", Policy: Policy{}}, f, Config{Store: s}); !errors.Is(err, ErrLocked) {
			t.Fatalf("second driver: New = %v, want ErrLocked", err)
		}
		r.Close()
		if _, err := Create(ctx, Spec{ID: "lease", Plan: plan, Version: "v2", Policy: Policy{}}, f, Config{Store: s}); !errors.Is(err, ErrExists) {
			t.Fatalf("New of a recorded rollout = %v, want ErrExists", err)
		}
		r2, err := Open(ctx, "lease", f, Config{Store: s})
		if err != nil {
			t.Fatalf("Resume after Close = %v", err)
		}
		if err := r2.Run(ctx); err != nil {
			t.Fatalf("Run = %v", err)
		}
		if _, err := Open(ctx, "missing", f, Config{Store: s}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Resume of an unknown rollout = %v, want ErrNotFound", err)
		}
	})
}

func TestFileStoreResumesAcrossRunners(t *testing.T) {
	dir := t.TempDir()
	// Zero bakes keep this real-time test short.
	plan := zeroBake(awsPlan(2, 1, 3))
	f := newFleet(plan, "v1")
	ctx, cancel := context.WithCancel(context.Background())
	deployed := 0
	r, err := Create(ctx, Spec{ID: "file-run", Plan: plan, Version: "v2", Policy: Policy{}}, f, Config{
		Store: &FileStore{Dir: dir},
		OnEvent: func(e Event) {
			if e.Kind == EventTargetDeployed {
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
	r2, err := Open(context.Background(), "file-run", f, Config{Store: &FileStore{Dir: dir}})
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
	for id, v := range f.snapshot() {
		if v != "v2" {
			t.Errorf("%s runs %s", id, v)
		}
	}
}
