package journal

import (
	"bytes"
	"fmt"
	"math/rand/v2"
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
		journal := AppendRecord(nil, Snapshot, 1, ps[0])
		prev, segs := ps[0], Split(nil, ps[0])
		for i, p := range ps[1:] {
			delta, next := Diff(nil, nil, p, prev, segs)
			if want := Split(nil, p); !cmp.Equal(want, next) {
				t.Fatalf("seed %d, payload %d: diff's segments %v, a full split's %v", seed, i+1, next, want)
			}
			journal = AppendRecord(journal, Delta, uint64(i+2), delta)
			r, err := Replay(journal)
			if err != nil {
				t.Fatalf("seed %d, payload %d: %v", seed, i+1, err)
			}
			if !bytes.Equal(r.Data, p) {
				t.Fatalf("seed %d, payload %d: replayed %q, want %q", seed, i+1, r.Data, p)
			}
			if diff := cmp.Diff(next, r.Segs); diff != "" {
				t.Fatalf("seed %d, payload %d: replayed segments (-want +got):\n%s", seed, i+1, diff)
			}
			prev, segs = p, next
		}
	}
}

func TestJournalTornTail(t *testing.T) {
	ps := payloads(rand.New(rand.NewPCG(7, 7)), 4)
	journal := AppendRecord(nil, Snapshot, 1, ps[0])
	prev, segs := ps[0], Split(nil, ps[0])
	var ends []int
	for i, p := range ps[1:] {
		d, next := Diff(nil, nil, p, prev, segs)
		ends = append(ends, len(journal))
		journal = AppendRecord(journal, Delta, uint64(i+2), d)
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
			r, err := Replay(tc.data)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("replay = %q, want an error", r.Data)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.Data, tc.want) {
				t.Errorf("replay = %q, want %q", r.Data, tc.want)
			}
		})
	}
}

func flipAt(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x01
	return b
}

func FuzzReplay(f *testing.F) {
	ps := payloads(rand.New(rand.NewPCG(1, 1)), 3)
	j := AppendRecord(nil, Snapshot, 1, ps[0])
	d, _ := Diff(nil, nil, ps[1], ps[0], Split(nil, ps[0]))
	f.Add(AppendRecord(j, Delta, 2, d))
	f.Add(j)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Replay(b)
		if err != nil {
			return
		}
		// What replays has the segments a split finds.
		if diff := cmp.Diff(Split(nil, r.Data), r.Segs); diff != "" {
			t.Errorf("segments (-split +replayed):\n%s", diff)
		}
	})
}
