package rollout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// payloads returns a sequence of n payloads shaped like encoded states
// (a head, then segments starting with `{"id":`), each derived from the
// last by changing, adding or removing a few segments, with now and then
// one of arbitrary bytes.
func payloads(rng *rand.Rand, n int) [][]byte {
	segs := []string{`{"schema":2,"state":{"phase":"running",`}
	for i := range 1 + rng.IntN(40) {
		segs = append(segs, fmt.Sprintf(`{"id":"t%d","status":"pending"},`, i))
	}
	var out [][]byte
	for range n {
		switch rng.IntN(10) {
		case 0:
			b := make([]byte, rng.IntN(50))
			for i := range b {
				b[i] = "{\"id:x,}"[rng.IntN(8)]
			}
			out = append(out, b)
			continue
		case 1:
			segs = append(segs, fmt.Sprintf(`{"id":"new%d"},`, rng.IntN(1000)))
		case 2:
			if len(segs) > 1 {
				segs = segs[:len(segs)-1-rng.IntN(min(3, len(segs)-1))]
			}
		}
		for range rng.IntN(4) {
			i := rng.IntN(len(segs))
			if i == 0 {
				segs[0] = fmt.Sprintf(`{"schema":2,"state":{"round":%d,`, rng.IntN(100))
			} else {
				segs[i] = fmt.Sprintf(`{"id":"t%d","status":"s%d"},`, i, rng.IntN(5))
			}
		}
		out = append(out, []byte(strings.Join(segs, "")))
	}
	return out
}

func TestJournalDiffReplay(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 1))
		ps := payloads(rng, 30)
		journal := appendRecord(nil, kindSnapshot, 1, ps[0])
		prev, segs := ps[0], splitOffsets(nil, ps[0])
		for i, p := range ps[1:] {
			var delta []byte
			var next []int
			delta, next = diff(nil, nil, p, prev, segs)
			if want := splitOffsets(nil, p); !cmp.Equal(want, next) {
				t.Fatalf("seed %d, payload %d: diff's segments %v, a full split's %v", seed, i+1, next, want)
			}
			journal = appendRecord(journal, kindDelta, uint64(i+2), delta)
			r, err := replay(journal)
			if err != nil {
				t.Fatalf("seed %d, payload %d: %v", seed, i+1, err)
			}
			if !bytes.Equal(r.data, p) {
				t.Fatalf("seed %d, payload %d: replayed %q, want %q", seed, i+1, r.data, p)
			}
			if diff := cmp.Diff(next, r.segs); diff != "" {
				t.Fatalf("seed %d, payload %d: replayed segments (-want +got):\n%s", seed, i+1, diff)
			}
			prev, segs = p, next
		}
	}
}

func TestJournalTornTail(t *testing.T) {
	ps := payloads(rand.New(rand.NewPCG(7, 7)), 4)
	journal := appendRecord(nil, kindSnapshot, 1, ps[0])
	prev, segs := ps[0], splitOffsets(nil, ps[0])
	var ends []int
	for i, p := range ps[1:] {
		d, next := diff(nil, nil, p, prev, segs)
		ends = append(ends, len(journal))
		journal = appendRecord(journal, kindDelta, uint64(i+2), d)
		prev, segs = p, next
	}
	last := ends[len(ends)-1]
	for _, tc := range []struct {
		name string
		data []byte
		want []byte // nil: an error
	}{
		{"whole", journal, ps[3]},
		{"torn header", journal[:last+5], ps[2]},
		{"torn payload", journal[:len(journal)-3], ps[2]},
		{"no final newline", journal[:len(journal)-1], ps[2]},
		{"zeros instead of the last record", append(bytes.Clone(journal[:last]), make([]byte, len(journal)-last)...), ps[2]},
		{"last record damaged", flipAt(journal, len(journal)-2), ps[2]},
		{"garbage after the last record", append(bytes.Clone(journal), "@J d 9 1"...), ps[3]},
		{"middle record damaged", flipAt(journal, (ends[1]+ends[2])/2), nil},
		{"record missing", append(bytes.Clone(journal[:ends[1]]), journal[ends[2]:]...), nil},
		{"snapshot torn", journal[:10], nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := replay(tc.data)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("replay = %q, want an error", r.data)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.data, tc.want) {
				t.Errorf("replay = %q, want %q", r.data, tc.want)
			}
		})
	}
}

func flipAt(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x01
	return b
}

// saveAll saves each payload under one lease and releases it.
func saveAll(t *testing.T, s *FileStore, id string, ps ...[]byte) {
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
	s := &FileStore{Dir: dir}
	ps := payloads(rand.New(rand.NewPCG(3, 3)), 3)
	saveAll(t, s, "r1", ps[:2]...)
	path := filepath.Join(dir, "r1.journal")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of appending the third save.
	torn := appendRecord(nil, kindDelta, 3, []byte("never acknowledged"))
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
	s := &FileStore{Dir: dir}
	ps := payloads(rand.New(rand.NewPCG(4, 4)), 4)
	saveAll(t, s, "r1", ps...)
	path := filepath.Join(dir, "r1.journal")
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, flipAt(b, 30), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(context.Background(), "r1"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Load of a journal damaged in its snapshot = %v, want ErrCorrupt", err)
	}
	if after, _ := os.ReadFile(path); len(after) != len(b) {
		t.Errorf("the damaged journal was rewritten (%d bytes, was %d)", len(after), len(b))
	}
}

func TestFileStoreMigratesSingleFile(t *testing.T) {
	dir := t.TempDir()
	st := testState(t)
	old, err := EncodeState(st)
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
	s := &FileStore{Dir: dir}
	ctx := context.Background()
	got, tok, err := s.Load(ctx, "r1")
	if err != nil || !bytes.Equal(got, old) || tok != 4 {
		t.Fatalf("Load of an earlier version's file = %d bytes, token %d, %v; want %d bytes, token 4", len(got), tok, err, len(old))
	}
	if _, err := st.Step(monday9); err != nil {
		t.Fatal(err)
	}
	next, _ := EncodeState(st)
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
	s := &FileStore{Dir: dir}
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

func FuzzReplay(f *testing.F) {
	ps := payloads(rand.New(rand.NewPCG(1, 1)), 3)
	j := appendRecord(nil, kindSnapshot, 1, ps[0])
	d, _ := diff(nil, nil, ps[1], ps[0], splitOffsets(nil, ps[0]))
	f.Add(appendRecord(j, kindDelta, 2, d))
	f.Add(j)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := replay(b)
		if err != nil {
			return
		}
		// What replays has the segments a split finds.
		if diff := cmp.Diff(splitOffsets(nil, r.data), r.segs); diff != "" {
			t.Errorf("segments (-split +replayed):\n%s", diff)
		}
	})
}
