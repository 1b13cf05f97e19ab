package rollout_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/internal/journal"
	"github.com/shepherd-go/shepherd/rollout"
)

// payloads returns n states of a few targets, each with one target
// changed from the last, shaped like encoded states.
func payloads(rng *rand.Rand, n int) [][]byte {
	status := make([]int, 8)
	var out [][]byte
	for i := range n {
		status[rng.IntN(len(status))]++
		b := fmt.Appendf(nil, `{"schema":2,"state":{"round":%d,"targets":[`, i)
		for j, s := range status {
			b = fmt.Appendf(b, `{"id":"t%d","status":"s%d"},`, j, s)
		}
		out = append(out, append(b, "]}}\n"...))
	}
	return out
}

func flipAt(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x01
	return b
}

// saveAll saves each payload under one lease and releases it.
func saveAll(t *testing.T, s *rollout.FileStore, id string, ps ...[]byte) {
	t.Helper()
	ctx := context.Background()
	_, tok, err := s.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := s.Save(ctx, id, tok, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Release(ctx, id, tok); err != nil {
		t.Fatal(err)
	}
}

func TestFileStoreCutsTornTail(t *testing.T) {
	dir := t.TempDir()
	s := &rollout.FileStore{Dir: dir}
	ps := payloads(rand.New(rand.NewPCG(3, 3)), 3)
	saveAll(t, s, "r1", ps[:2]...)
	path := filepath.Join(dir, "r1.journal")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of appending the third save.
	torn := journal.AppendRecord(nil, journal.Delta, 3, []byte("never acknowledged"))
	if err := os.WriteFile(path, append(bytes.Clone(good), torn[:len(torn)-4]...), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got, tok, err := s.Load(ctx, "r1")
	if err != nil || !bytes.Equal(got, ps[1]) {
		t.Fatalf("Load after a torn append = %q, %v; want the last acknowledged state %q", got, err, ps[1])
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, good) {
		t.Errorf("the torn tail was not cut off: %d bytes, want %d", len(after), len(good))
	}
	if err := s.Save(ctx, "r1", tok, ps[2]); err != nil {
		t.Fatal(err)
	}
	s.Release(ctx, "r1", tok)
	if got, _, err := s.Load(ctx, "r1"); err != nil || !bytes.Equal(got, ps[2]) {
		t.Fatalf("Load after the next save = %q, %v; want %q", got, err, ps[2])
	}
}

func TestFileStoreRefusesDamagedJournal(t *testing.T) {
	dir := t.TempDir()
	s := &rollout.FileStore{Dir: dir}
	ps := payloads(rand.New(rand.NewPCG(4, 4)), 4)
	saveAll(t, s, "r1", ps...)
	path := filepath.Join(dir, "r1.journal")
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, flipAt(b, 30), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(context.Background(), "r1"); !errors.Is(err, rollout.ErrCorrupt) {
		t.Fatalf("Load of a journal damaged in its snapshot = %v, want ErrCorrupt", err)
	}
	if after, _ := os.ReadFile(path); len(after) != len(b) {
		t.Errorf("the damaged journal was rewritten (%d bytes, was %d)", len(after), len(b))
	}
}

func TestFileStoreMigratesSingleFile(t *testing.T) {
	dir := t.TempDir()
	st := testState(t)
	old, err := rollout.EncodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	// What the earlier file store left: the state and a lock file that
	// says it was saved under lease 3.
	if err := os.WriteFile(filepath.Join(dir, "r1.json"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "r1.lock"), []byte("3 saved\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &rollout.FileStore{Dir: dir}
	ctx := context.Background()
	got, tok, err := s.Load(ctx, "r1")
	if err != nil || !bytes.Equal(got, old) || tok != 4 {
		t.Fatalf("Load of an earlier version's file = %d bytes, token %d, %v; want %d bytes, token 4", len(got), tok, err, len(old))
	}
	if _, err := st.Step(monday9); err != nil {
		t.Fatal(err)
	}
	next, _ := rollout.EncodeState(st)
	if err := s.Save(ctx, "r1", tok, next); err != nil {
		t.Fatal(err)
	}
	s.Release(ctx, "r1", tok)
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"r1.journal", "r1.lock"}, names); diff != "" {
		t.Errorf("files after the first save (-want +got):\n%s", diff)
	}
	if got, _, err := s.Load(ctx, "r1"); err != nil || !bytes.Equal(got, next) {
		t.Fatalf("Load after migrating = %d bytes, %v; want the saved state", len(got), err)
	}
}

func TestFileStoreCompacts(t *testing.T) {
	dir := t.TempDir()
	s := &rollout.FileStore{Dir: dir}
	ctx := context.Background()
	_, tok, err := s.Load(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	ps := payloads(rand.New(rand.NewPCG(5, 5)), 400)
	largest := 0
	for _, p := range ps {
		if err := s.Save(ctx, "r1", tok, p); err != nil {
			t.Fatal(err)
		}
		largest = max(largest, len(p))
		fi, err := os.Stat(filepath.Join(dir, "r1.journal"))
		if err != nil {
			t.Fatal(err)
		}
		// A snapshot and deltas no larger than it, each with its header.
		if limit := 2*largest + 400; fi.Size() > int64(limit) {
			t.Fatalf("journal of %d bytes, more than %d: it is not compacted", fi.Size(), limit)
		}
	}
	s.Release(ctx, "r1", tok)
	if got, _, err := s.Load(ctx, "r1"); err != nil || !bytes.Equal(got, ps[len(ps)-1]) {
		t.Fatalf("Load = %q, %v; want %q", got, err, ps[len(ps)-1])
	}
}
