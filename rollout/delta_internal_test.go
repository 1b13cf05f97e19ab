package rollout

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shepherd-go/shepherd/internal/journal"
)

// journalStore is a DeltaSaver that keeps a journal in memory, as the
// file store keeps one on disk, and checks at every save that replaying
// it gives the whole state byte for byte. failEvery makes every n-th save
// fail, so that deltas across a failed save are checked too.
type journalStore struct {
	MemoryStore
	t         *testing.T
	j         []byte
	seq, last uint64
	saves     int
	deltas    int
	failEvery int
}

func (s *journalStore) SaveDelta(ctx context.Context, id string, token uint64, d *Delta) error {
	s.saves++
	if s.failEvery > 0 && s.saves%s.failEvery == 0 {
		s.last = 0 // a failed save leaves the store's journal unknown
		return errors.New("injected store failure")
	}
	whole, err := d.Whole()
	if err != nil {
		return err
	}
	// The cached parts (chunks, decisions, checksums) must give what a
	// fresh encoding of the same state gives.
	st, err := DecodeState(whole)
	if err != nil {
		s.t.Fatalf("save %d: %v", d.Seq, err)
	}
	fresh, err := EncodeState(st)
	if err != nil {
		s.t.Fatal(err)
	}
	checkHead(s.t, st)
	if !bytes.Equal(fresh, whole) {
		s.t.Fatalf("save %d: the cached encoding differs from a fresh one", d.Seq)
	}
	if s.j == nil || d.Base == 0 || d.Base != s.last {
		s.j = journal.AppendRecord(s.j[:0], journal.Snapshot, s.seq+1, whole)
	} else {
		p := journal.AppendDelta(nil, d.Segments)
		prev := -1
		for _, sg := range d.Changed {
			if sg.Index <= prev || sg.Index >= d.Segments {
				s.t.Fatalf("save %d: segment %d after %d, of %d", d.Seq, sg.Index, prev, d.Segments)
			}
			prev = sg.Index
			p = journal.AppendSegment(p, sg.Index, sg.Bytes)
		}
		s.j = journal.AppendRecord(s.j, journal.Delta, s.seq+1, p)
		s.deltas++
	}
	s.seq++
	r, err := journal.Replay(s.j)
	if err != nil {
		s.t.Fatalf("save %d: replay: %v", d.Seq, err)
	}
	if !bytes.Equal(r.Data, whole) {
		i := 0
		for i < len(whole) && i < len(r.Data) && whole[i] == r.Data[i] {
			i++
		}
		s.t.Fatalf("save %d (base %d): replayed state differs from the whole state at byte %d of %d/%d:\nreplayed ...%.80q\nwhole    ...%.80q",
			d.Seq, d.Base, i, len(r.Data), len(whole), r.Data[max(i-20, 0):], whole[max(i-20, 0):])
	}
	s.last = d.Seq
	return s.MemoryStore.Save(ctx, id, token, whole)
}

// TestDeltaReplaysToWholeState drives whole rollouts (one that succeeds,
// one rolled back by its alarm, with store failures between saves) into a
// journal of deltas and checks every save against the whole state.
func TestDeltaReplaysToWholeState(t *testing.T) {
	for _, tc := range []struct {
		name      string
		bad       bool
		failEvery int
	}{
		{"succeeds", false, 0},
		{"rolled-back", true, 0},
		{"store-failures", false, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				plan := zeroBake(awsPlan(2, 3, 300)) // 1,800 targets: several chunks
				f := newFleet(plan, "v1")
				f.Delay = time.Second
				cfg := Config{}
				if tc.bad {
					cfg.Alarms = regressionAlarm(f, allTargets(plan), "v2")
				}
				st := &journalStore{t: t, failEvery: tc.failEvery}
				cfg.Store = st
				id := "delta"
				for attempt := 0; ; attempt++ {
					var r *Runner
					var err error
					if attempt == 0 {
						r, err = Create(t.Context(), Spec{ID: id, Plan: plan, Version: "v2"}, f, cfg)
					} else {
						r, err = Open(t.Context(), id, f, cfg)
					}
					if err != nil {
						t.Fatal(err)
					}
					err = r.Run(t.Context())
					if err == nil || errors.Is(err, ErrRolledBack) {
						break
					}
					if tc.failEvery == 0 || attempt > 1000 {
						t.Fatalf("Run: %v", err)
					}
				}
				if st.deltas < st.saves/2 {
					t.Errorf("%d of %d saves were deltas; want most", st.deltas, st.saves)
				}
			})
		})
	}
}
