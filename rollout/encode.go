package rollout

import (
	"bytes"
	"encoding/json"
	"hash/crc32"
	"slices"
	"strconv"
)

// Saving a state of 100,000 targets at every transition must not cost a
// full JSON encoding each time: the plan never changes once the rollout is
// created, and a transition changes the targets of one batch. So the saved
// form is assembled from parts: the small head, encoded each time; the
// plan, encoded once; and the targets, encoded by hand in chunks, of which
// only those holding a changed target are encoded again.

const chunkSize = 256

type encCache struct {
	plan    []byte
	planCRC uint32 // CRC-32C of plan
	// planIDs counts the segments the plan holds (see [Delta]); firstID
	// is where its first one starts.
	planIDs, firstID int
	chunks           [][]byte
	// crcTree is a segment tree of the chunks' CRC-32Cs, each chunk after
	// the first with the comma before it: leaf i at leaves+i, node k
	// combining nodes 2k and 2k+1, the root at 1; shiftTree holds each
	// node's x^(8*len) modulo the polynomial, what combining a CRC before
	// the node's bytes multiplies by. A save that changes a few chunks
	// recombines their paths to the root, not every chunk: with batches of
	// a fixed size, combining every chunk at every save made a rollout's
	// checksumming grow with the square of the fleet.
	crcTree, shiftTree []uint32
	leaves             int
	dirty              []bool
	// offs[i] holds where each record of chunk i starts in it; stale
	// marks the targets changed since the last encoding. A dirty chunk is
	// rebuilt from its old bytes and its stale records alone (a batch of
	// 190 targets dirties two chunks of 256, and encoding all 512 again
	// cost more than the batch's own records), into spare, which then
	// takes the old bytes.
	offs  [][]int32
	stale []bool
	spare []byte

	// The targets changed since the last save a store took: what a
	// [Delta] sends.
	changed []int
	marked  []bool
	// decJSON is the encoding of the first decN decisions, joined by
	// commas; decFirst is where the first one was, to tell a list that
	// grew from one that was replaced.
	decJSON  []byte
	decN     int
	decFirst *Decision

	// head is the buffer the head is encoded into, reused.
	head []byte

	// headIDs is how many segments started in the head of the last save
	// a store took; -1: none yet.
	headIDs int
}

// touch marks the target at plan position p as changed since the last
// encoding and the last save.
func (s *State) touch(p int) {
	e := s.enc
	if e == nil {
		return
	}
	e.dirty[p/chunkSize] = true
	e.stale[p] = true
	if !e.marked[p] {
		e.marked[p] = true
		e.changed = append(e.changed, p)
	}
}

// saved forgets the changes a store has taken.
func (e *encCache) saved(headIDs int) {
	for _, p := range e.changed {
		e.marked[p] = false
	}
	e.changed = e.changed[:0]
	e.headIDs = headIDs
}

type stateAlias State

// appendDecisions appends the state's decisions, then its audit log, to
// the head h as encoding/json would (they are its last fields). The
// decisions only grow, one gate at a time, and a long rollout makes
// hundreds: those encoded at an earlier save are kept, not encoded again.
func (s *State) appendDecisions(h []byte) ([]byte, error) {
	e := s.enc
	if n := len(s.Decisions); n > 0 {
		if n < e.decN || e.decN > 0 && &s.Decisions[0] != e.decFirst {
			e.decJSON, e.decN = e.decJSON[:0], 0 // not the list encoded before
		}
		for _, d := range s.Decisions[e.decN:] {
			b, err := json.Marshal(d)
			if err != nil {
				return nil, err
			}
			if e.decN > 0 {
				e.decJSON = append(e.decJSON, ',')
			}
			e.decJSON = append(e.decJSON, b...)
			e.decN++
		}
		e.decFirst = &s.Decisions[0]
		h = append(h, `,"decisions":[`...)
		h = append(h, e.decJSON...)
		h = append(h, ']')
	}
	if len(s.Audit) > 0 {
		b, err := json.Marshal(s.Audit)
		if err != nil {
			return nil, err
		}
		h = append(h, `,"audit":`...)
		h = append(h, b...)
	}
	return h, nil
}

// parts brings the cached encoding up to date and returns the head's
// JSON without its closing brace, and the CRC-32C of the whole body
// (head, plan and targets), combined from the parts' own so that the
// bytes that did not change are not read again.
func (s *State) parts() (h []byte, sum uint32, err error) {
	n := (len(s.Targets) + chunkSize - 1) / chunkSize
	if s.enc == nil || len(s.enc.chunks) != n {
		plan, err := json.Marshal(s.Plan)
		if err != nil {
			return nil, 0, err
		}
		leaves := 1
		for leaves < n {
			leaves *= 2
		}
		e := &encCache{plan: plan, planCRC: crc32.Checksum(plan, castagnoli), chunks: make([][]byte, n),
			crcTree: make([]uint32, 2*leaves), shiftTree: make([]uint32, 2*leaves), leaves: leaves,
			dirty: make([]bool, n), marked: make([]bool, len(s.Targets)), headIDs: -1,
			offs: make([][]int32, n), stale: make([]bool, len(s.Targets))}
		for k := range e.shiftTree {
			e.shiftTree[k] = x0 // empty: no bytes
		}
		e.firstID = -1
		for off := 0; ; off++ {
			i := bytes.Index(e.plan[off:], segSep)
			if i < 0 {
				break
			}
			off += i
			if e.firstID < 0 {
				e.firstID = off
			}
			e.planIDs++
		}
		for i := range e.dirty {
			e.dirty[i] = true
		}
		s.enc = e
	}
	e := s.enc
	var buf [64]int
	changed := buf[:0] // parents of the leaves that changed, in order
	for i := range e.chunks {
		if e.dirty[i] {
			lo, hi := i*chunkSize, min((i+1)*chunkSize, len(s.Targets))
			old, offs := e.chunks[i], e.offs[i]
			if offs == nil {
				offs = make([]int32, hi-lo)
				e.offs[i] = offs
				old = nil // nothing to copy: every record is encoded
			}
			b := e.spare[:0]
			if need := len(old) + len(old)/8; cap(b) < need || old == nil {
				// Room for the records as they will be once the targets
				// have versions (a version, an attempt count): grown
				// once, not by doubling.
				n := need + len(old)/8
				if old == nil {
					for p := lo; p < hi; p++ {
						n += 2*len(s.Targets[p].ID) + 96
					}
				}
				b = make([]byte, 0, n)
			}
			for p := lo; p < hi; p++ {
				k := p - lo
				if p > lo {
					b = append(b, ',')
				}
				start := int32(len(b))
				if old == nil || e.stale[p] {
					b = appendTarget(b, &s.Targets[p])
				} else {
					b = append(b, recordAt(old, offs, k)...)
				}
				offs[k] = start
				e.stale[p] = false
			}
			e.chunks[i], e.spare = b, old[:0]
			k := e.leaves + i
			sum, n := uint32(0), len(b)
			if i > 0 {
				sum, n = crc32.Checksum(comma, castagnoli), n+1
			}
			e.crcTree[k] = crc32.Update(sum, castagnoli, b)
			e.shiftTree[k] = crc32Shift(crc32.Castagnoli, n)
			e.dirty[i] = false
			if p := k / 2; len(changed) == 0 || changed[len(changed)-1] != p {
				changed = append(changed, p)
			}
		}
	}
	e.recombine(changed)
	if h, err = s.appendHead(e.head[:0]); err != nil {
		return nil, 0, err
	}
	e.head = h
	if h, err = s.appendDecisions(h); err != nil {
		return nil, 0, err
	}
	sum = crc32.Update(crc32.Checksum(h, castagnoli), castagnoli, []byte(planKey))
	sum = crc32Combine(crc32.Castagnoli, sum, e.planCRC, len(e.plan))
	sum = crc32.Update(sum, castagnoli, []byte(targetsKey))
	sum = multModP(crc32.Castagnoli, e.shiftTree[1], sum) ^ e.crcTree[1]
	sum = crc32.Update(sum, castagnoli, []byte(bodyEnd))
	return h, sum, nil
}

// x0 is x^0 modulo the polynomial, bit-reflected: the shift of no bytes.
const x0 = uint32(1) << 31

// recombine brings up to date the inner nodes of the CRC tree on the
// paths from the given nodes (in increasing order, without repeats) to
// the root, level by level: two multiplications per node, so a save
// costs in proportion to the chunks it changed times the tree's height.
func (e *encCache) recombine(level []int) {
	for len(level) > 0 && level[0] > 0 {
		next := level[:0]
		for _, k := range level {
			l, r := 2*k, 2*k+1
			e.crcTree[k] = multModP(crc32.Castagnoli, e.shiftTree[r], e.crcTree[l]) ^ e.crcTree[r]
			e.shiftTree[k] = multModP(crc32.Castagnoli, e.shiftTree[l], e.shiftTree[r])
			if p := k / 2; len(next) == 0 || next[len(next)-1] != p {
				next = append(next, p)
			}
		}
		level = next
	}
}

const (
	planKey    = `,"plan":`
	targetsKey = `,"targets":[`
	bodyEnd    = `]}`
)

var (
	comma  = []byte{','}
	segSep = []byte(`{"id":`)
)

// appendBody appends the state's JSON, assembled from the parts parts
// returned, to b.
func (s *State) appendBody(b, h []byte) []byte {
	e := s.enc
	size := len(h) + len(e.plan) + 64
	for _, c := range e.chunks {
		size += len(c) + 1
	}
	b = slices.Grow(b, size)
	b = append(b, h...)
	b = append(b, planKey...)
	b = append(b, e.plan...)
	b = append(b, targetsKey...)
	for i, c := range e.chunks {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, c...)
	}
	return append(b, bodyEnd...)
}

// appendTarget appends t as JSON, as encoding/json would with its tags.
func appendTarget(b []byte, t *TargetState) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, t.ID)
	b = append(b, `,"status":`...)
	b = appendString(b, string(t.Status))
	if t.Previous != "" {
		b = append(b, `,"previous":`...)
		b = appendString(b, t.Previous)
	}
	if t.Current != "" {
		b = append(b, `,"current":`...)
		b = appendString(b, t.Current)
	}
	if t.Attempted {
		b = append(b, `,"attempted":true`...)
	}
	if t.Attempts != 0 {
		b = append(b, `,"attempts":`...)
		b = strconv.AppendInt(b, int64(t.Attempts), 10)
	}
	if t.RollbackAttempts != 0 {
		b = append(b, `,"rollbackAttempts":`...)
		b = strconv.AppendInt(b, int64(t.RollbackAttempts), 10)
	}
	if t.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, t.Error)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string: printable ASCII directly,
// anything else through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// record returns the encoding of the target at plan position p, from its
// chunk, which parts has brought up to date.
func (e *encCache) record(p int) []byte {
	i := p / chunkSize
	return recordAt(e.chunks[i], e.offs[i], p%chunkSize)
}

// recordAt returns record k of a chunk whose records start at offs: up to
// the comma before the next one, or to the chunk's end.
func recordAt(chunk []byte, offs []int32, k int) []byte {
	end := len(chunk)
	if k+1 < len(offs) {
		end = int(offs[k+1]) - 1
	}
	return chunk[offs[k]:end]
}
