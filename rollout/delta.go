package rollout

import (
	"bytes"
	"context"
	"slices"
)

// A DeltaSaver is a [Store] that can save a state from what changed
// since the last save it took, rather than from the whole state: an
// optional capability, checked by type assertion. [FileStore] has it.
//
// A 100,000-target state is about 17 MB and a transition changes a
// batch's targets; saving it whole at every transition makes the cost of
// a save grow with the fleet. Given a Delta, a journaled store appends
// the changed segments, reading and writing bytes in proportion to the
// change, and asks for the whole state only when it compacts.
type DeltaSaver interface {
	SaveDelta(ctx context.Context, id string, token uint64, d *Delta) error
}

// Delta is a saved state told as its changes since an earlier save.
//
// A saved state (the bytes [Store.Save] gets) is split into segments, each
// beginning at an occurrence of the bytes `{"id":` (the first at offset
// 0): one segment for the head of the state, one per target of the plan
// and one per target's record. Changed lists, in increasing order of
// index, every segment that differs from the state of save Base; applied
// to that state's segments, with the state cut or extended to Segments
// segments, they make the state of save Seq, byte for byte.
//
// Saves are numbered by the [Runner] that makes them, from 1, under one
// lease. A store applies a delta only when the last save it took under
// that lease is Base; otherwise (Base 0, a save it did not take, a store
// that just started) it calls Whole.
type Delta struct {
	Base, Seq uint64
	Segments  int
	Changed   []Segment

	// Deferrable says the store may make this save durable with the
	// next one instead of before it returns: the driver's next actions
	// only read (versions, blockers, alarms, evidence), so a crash that
	// loses it resumes from the save before, whose recorded intent those
	// reads reconcile, as they would after a crash just before this save.
	// A state that ends, waits, or is followed by a deploy, a rollback or
	// a change of traffic is never deferrable. A store that makes every
	// save durable may ignore it; FileStore skips the fsync, which halves
	// the fsyncs of a rollout (the results of a batch are followed by the
	// reads of the next one).
	Deferrable bool

	whole func() ([]byte, error)
}

// Segment is one changed segment of a [Delta].
type Segment struct {
	Index int
	Bytes []byte
}

// Whole returns the whole saved state, the bytes [Store.Save] would get.
// They are valid until the save returns.
func (d *Delta) Whole() ([]byte, error) { return d.whole() }

// appendDelta fills d with the segments of s's saved state that changed
// since the last save a store took, encoding into buf, and returns buf.
// It reports false when the state cannot be told as a delta (the number
// of segments in the head changed, or nothing was saved yet): the
// caller saves it whole.
func (s *State) appendDelta(buf []byte, d *Delta) ([]byte, bool, error) {
	if err := s.check(); err != nil {
		return buf, false, err
	}
	h, sum, err := s.parts()
	if err != nil {
		return buf, false, err
	}
	e := s.enc
	// The head's segments: the prefix and head, up to the plan's first.
	b := appendPrefix(buf[:0], s.Schema)
	b = append(b, h...)
	b = append(b, planKey...)
	head := len(b)
	b = append(b, e.plan[:max(e.firstID, 0)]...)
	var starts []int
	for off := 1; off < head; off++ {
		i := bytes.Index(b[off:head], segSep)
		if i < 0 {
			break
		}
		off += i
		starts = append(starts, off)
	}

	n := len(s.Targets)
	if e.headIDs < 0 || len(starts) != e.headIDs || e.planIDs == 0 || n == 0 {
		return b, false, nil
	}
	headEnd := len(b)
	// Each changed target's record, with the comma after it; the last
	// record carries the end of the state and its checksum, which change
	// at every save.
	slices.Sort(e.changed)
	if len(e.changed) == 0 || e.changed[len(e.changed)-1] != n-1 {
		e.changed = append(e.changed, n-1)
		e.marked[n-1] = true
	}
	ends := make([]int, 0, len(e.changed))
	for _, p := range e.changed {
		b = append(b, e.record(p)...)
		if p < n-1 {
			b = append(b, ',')
		} else {
			b = append(b, bodyEnd...)
			b = appendChecksum(b, sum)
		}
		ends = append(ends, len(b))
	}
	kA := len(starts)
	d.Segments = 1 + kA + e.planIDs + n
	d.Changed = d.Changed[:0]
	prev := 0
	for _, st := range starts {
		d.Changed = append(d.Changed, Segment{Index: len(d.Changed), Bytes: b[prev:st]})
		prev = st
	}
	d.Changed = append(d.Changed, Segment{Index: kA, Bytes: b[prev:headEnd]})
	prev = headEnd
	for i, p := range e.changed {
		d.Changed = append(d.Changed, Segment{Index: 1 + kA + e.planIDs + p, Bytes: b[prev:ends[i]]})
		prev = ends[i]
	}
	return b, true, nil
}

// headSegments counts the segments that start in the first n bytes of
// a saved state, its prefix and head up to the plan.
func headSegments(saved []byte, n int) int {
	if n < 1 || n > len(saved) {
		return -1
	}
	return bytes.Count(saved[1:n], segSep)
}

// saves numbers a Runner's saves and keeps its encoding buffers: a whole
// state's, reused from save to save (stores copy what they keep), and a
// delta's.
type saves struct {
	seq, last uint64 // this run's saves; the last one a store took
	buf, dbuf []byte
	d         Delta
}

// save saves st to store: as a delta when the store takes deltas and
// took the last save, whole otherwise.
func (v *saves) save(ctx context.Context, store Store, id string, token uint64, st *State, deferrable bool) error {
	v.seq++
	ds, deltas := store.(DeltaSaver)
	if deltas && v.last != 0 {
		b, ok, err := st.appendDelta(v.dbuf, &v.d)
		v.dbuf = b
		if err != nil {
			return err
		}
		if ok {
			v.d.Base, v.d.Seq, v.d.Deferrable = v.last, v.seq, deferrable
			v.d.whole = func() ([]byte, error) {
				data, err := appendState(v.buf[:0], st)
				if err == nil {
					v.buf = data
				}
				return data, err
			}
			if err := ds.SaveDelta(ctx, id, token, &v.d); err != nil {
				return err
			}
			st.enc.saved(st.enc.headIDs)
			v.last = v.seq
			return nil
		}
	}
	data, head, err := appendWhole(v.buf[:0], st)
	if err != nil {
		return err
	}
	v.buf = data
	if deltas {
		v.d = Delta{Seq: v.seq, Changed: v.d.Changed[:0], whole: func() ([]byte, error) { return data, nil }}
		err = ds.SaveDelta(ctx, id, token, &v.d)
	} else {
		err = store.Save(ctx, id, token, data)
	}
	if err != nil {
		return err
	}
	st.enc.saved(headSegments(data, head))
	v.last = v.seq
	return nil
}
