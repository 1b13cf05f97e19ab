// Package journal is the record format of shepherd's journaled stores
// (the file store of package rollout and the PostgreSQL store): a saved
// state is kept as a snapshot followed by deltas, each a record with a
// CRC-32C, and a delta holds only the segments of the state that changed.
//
// A journal is a sequence of records, each a header line and a payload,
//
//	@J <kind> <seq> <length> <crc32c>\n<payload>\n
//
// where kind is "s" for a snapshot (the payload is a whole saved state,
// the bytes rollout.EncodeState made) or "d" for a delta (the payload says
// which segments of the previous state changed; see below), seq numbers
// the records from 1 without gaps, length is the payload's length in bytes
// and the CRC-32C, in hex, covers the kind, the seq, the length and the
// payload.
//
// A saved state is split into segments, each beginning at an occurrence
// of `{"id":` (the first at offset 0): in an encoded state, that is one
// segment for the head, one per target of the plan and one per target
// state, so that a transition that changes a batch of targets changes
// those targets' segments and the head, and the delta records only
// those. A delta's payload is uvarint(n), the number of segments of the
// new state, then for each segment that differs from the segment at the
// same index in the previous state, in increasing order of index,
// uvarint(index), uvarint(len) and the segment's bytes. Any bytes can be
// saved: bytes without `{"id":` are one segment, and their delta is the
// whole of them.
package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	segSep      = []byte(`{"id":`)
	recordMagic = []byte("@J ")
)

// The kinds of record.
const (
	// Snapshot is a record that holds a whole state.
	Snapshot = 's'
	// Delta is a record that holds the segments that changed since the
	// state before it.
	Delta = 'd'
	// maxHeader bounds a record's header line.
	maxHeader = 64
)

// AppendRecord appends one record to b.
func AppendRecord(b []byte, kind byte, seq uint64, payload []byte) []byte {
	b = AppendHeader(b, kind, seq, payload)
	b = append(b, payload...)
	return append(b, '\n')
}

// AppendHeader appends the header line of a record to b: the record is
// the header, the payload and a newline, which a caller that writes a
// large payload (a snapshot) can write without copying it.
func AppendHeader(b []byte, kind byte, seq uint64, payload []byte) []byte {
	start := len(b)
	b = append(b, recordMagic...)
	b = append(b, kind, ' ')
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(len(payload)), 10)
	sum := crc32.Update(crc32.Checksum(b[start+len(recordMagic):], castagnoli), castagnoli, payload)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(sum), 16)
	return append(b, '\n')
}

// record is one record read back.
type record struct {
	kind    byte
	seq     uint64
	payload []byte
	end     int // offset just past the record
}

var errBadRecord = errors.New("bad record")

// parseRecord reads the record at the start of b.
func parseRecord(b []byte) (record, error) {
	if !bytes.HasPrefix(b, recordMagic) {
		return record{}, errBadRecord
	}
	nl := bytes.IndexByte(b[:min(len(b), maxHeader)], '\n')
	if nl < 0 {
		return record{}, errBadRecord
	}
	f := bytes.Fields(b[len(recordMagic):nl])
	if len(f) != 4 || len(f[0]) != 1 {
		return record{}, errBadRecord
	}
	seq, err1 := strconv.ParseUint(string(f[1]), 10, 64)
	n, err2 := strconv.ParseUint(string(f[2]), 10, 63)
	sum, err3 := strconv.ParseUint(string(f[3]), 16, 32)
	if err1 != nil || err2 != nil || err3 != nil || uint64(len(b)-nl-1) < n+1 {
		return record{}, errBadRecord
	}
	payload := b[nl+1 : nl+1+int(n)]
	if b[nl+1+int(n)] != '\n' {
		return record{}, errBadRecord
	}
	// The CRC covers "kind seq length" as written, then the payload.
	covered := b[len(recordMagic):bytes.LastIndexByte(b[:nl], ' ')]
	if crc32.Update(crc32.Checksum(covered, castagnoli), castagnoli, payload) != uint32(sum) {
		return record{}, errBadRecord
	}
	return record{kind: f[0][0], seq: seq, payload: payload, end: nl + 2 + int(n)}, nil
}

// Replayed is a journal read back: the last state it holds, its
// segments, and where its valid records end.
type Replayed struct {
	// Data is the last state.
	Data []byte
	// Segs are the start offsets of Data's segments.
	Segs []int
	// Seq is the last valid record's.
	Seq uint64
	// Valid is the length of the valid records; bytes after them are a
	// torn tail.
	Valid int
	// Snap is the length of the last snapshot record, Since the length
	// of the delta records after it.
	Snap, Since int
}

// Replay reads a journal. A record that does not check out at the end of
// the file is a torn tail, left by a crash in the middle of an append: it
// and what follows are ignored (the save it belonged to never returned).
// A damaged record followed by a valid one is not a torn tail but damage
// to saved states, and an error.
func Replay(b []byte) (*Replayed, error) {
	var (
		segs [][]byte
		r    Replayed
		off  int
	)
	for off < len(b) {
		rec, err := parseRecord(b[off:])
		if err != nil {
			// A torn tail is the end of the journal; valid records after
			// a bad one mean the damage is in the middle.
			for i := off + 1; i < len(b); i++ {
				j := bytes.Index(b[i:], recordMagic)
				if j < 0 {
					break
				}
				i += j
				if next, err := parseRecord(b[i:]); err == nil && next.seq > r.Seq {
					return nil, fmt.Errorf("record at offset %d is damaged and record %d follows it", off, next.seq)
				}
			}
			break
		}
		if r.Seq != 0 && rec.seq != r.Seq+1 {
			return nil, fmt.Errorf("record %d follows record %d", rec.seq, r.Seq)
		}
		switch rec.kind {
		case Snapshot:
			segs = splitAll(segs[:0], rec.payload)
			r.Snap, r.Since = rec.end, 0
		case Delta:
			if segs == nil {
				return nil, fmt.Errorf("record %d is a delta with no snapshot before it", rec.seq)
			}
			if segs, err = applyDelta(segs, rec.payload); err != nil {
				return nil, fmt.Errorf("record %d: %v", rec.seq, err)
			}
			r.Since += rec.end
		default:
			return nil, fmt.Errorf("record %d has unknown kind %q", rec.seq, rec.kind)
		}
		r.Seq = rec.seq
		off += rec.end
		r.Valid = off
	}
	if segs == nil {
		return nil, errors.New("no valid snapshot")
	}
	n := 0
	for _, s := range segs {
		n += len(s)
	}
	r.Data = make([]byte, 0, n)
	r.Segs = make([]int, 0, len(segs))
	for _, s := range segs {
		r.Segs = append(r.Segs, len(r.Data))
		r.Data = append(r.Data, s...)
	}
	return &r, nil
}

// splitAll appends data's segments to segs.
func splitAll(segs [][]byte, data []byte) [][]byte {
	start := 0
	for {
		if start+1 >= len(data) {
			return append(segs, data[start:])
		}
		i := bytes.Index(data[start+1:], segSep)
		if i < 0 {
			return append(segs, data[start:])
		}
		segs = append(segs, data[start:start+1+i])
		start += 1 + i
	}
}

// applyDelta applies a delta's payload to the segments of the previous
// state.
func applyDelta(segs [][]byte, p []byte) ([][]byte, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(segs))+uint64(len(p)) {
		return nil, errors.New("bad segment count")
	}
	old := len(segs)
	if int(n) <= old {
		segs = segs[:n]
	} else {
		segs = append(segs, make([][]byte, int(n)-old)...)
	}
	p = p[k:]
	next, added := 0, 0 // indexes below next are settled
	for len(p) > 0 {
		i, k1 := binary.Uvarint(p)
		if k1 <= 0 || i >= n || int(i) < next {
			return nil, errors.New("bad segment index")
		}
		l, k2 := binary.Uvarint(p[k1:])
		if k2 <= 0 || l > uint64(len(p)-k1-k2) {
			return nil, errors.New("bad segment length")
		}
		p = p[k1+k2:]
		segs[i] = p[:l:l]
		p = p[l:]
		next = int(i) + 1
		if int(i) >= old {
			added++
		}
	}
	if int(n) > old && added != int(n)-old {
		return nil, errors.New("a new segment is missing")
	}
	return segs, nil
}

// Diff splits data into segments, appending their start offsets to
// segs, and appends to delta the delta from prev (whose segments start at
// prevSegs) to data. It compares segment by segment and skips over those
// that did not change with a plain comparison, so that it searches only
// the changed parts of data for segment boundaries.
func Diff(delta []byte, segs []int, data, prev []byte, prevSegs []int) ([]byte, []int) {
	// The entries go straight into delta, after room for the count of
	// segments, which is known only at the end.
	start, first := len(delta), len(segs)
	delta = append(delta, make([]byte, binary.MaxVarintLen64)...)
	pos := 0
	for i := 0; ; i++ {
		segs = append(segs, pos)
		if i < len(prevSegs) {
			ps := prev[prevSegs[i]:]
			last := i == len(prevSegs)-1
			if !last {
				ps = ps[:prevSegs[i+1]-prevSegs[i]]
			}
			end := pos + len(ps)
			if end <= len(data) && bytes.Equal(data[pos:end], ps) {
				if last && end == len(data) {
					break
				}
				if !last && bytes.HasPrefix(data[end:], segSep) {
					pos = end
					continue
				}
			}
		}
		// Changed or new: find its end.
		end := len(data)
		if pos+1 < len(data) {
			if j := bytes.Index(data[pos+1:], segSep); j >= 0 {
				end = pos + 1 + j
			}
		}
		delta = binary.AppendUvarint(delta, uint64(i))
		delta = binary.AppendUvarint(delta, uint64(end-pos))
		delta = append(delta, data[pos:end]...)
		if end == len(data) {
			break
		}
		pos = end
	}
	k := binary.PutUvarint(delta[start:], uint64(len(segs)-first))
	n := copy(delta[start+k:], delta[start+binary.MaxVarintLen64:])
	return delta[:start+k+n], segs
}

// Split appends the start offsets of data's segments to segs.
func Split(segs []int, data []byte) []int {
	segs = append(segs, 0)
	for off := 1; off < len(data); {
		i := bytes.Index(data[off:], segSep)
		if i < 0 {
			break
		}
		segs = append(segs, off+i)
		off += i + 1
	}
	return segs
}

// AppendDelta appends to b the payload of a delta to a state of n
// segments, for a writer that knows which segments changed without
// comparing states: the changed segments follow, each appended with
// [AppendSegment] in increasing order of index.
func AppendDelta(b []byte, n int) []byte {
	return binary.AppendUvarint(b, uint64(n))
}

// AppendSegment appends a changed segment, the i-th of the new state, to
// a delta's payload.
func AppendSegment(b []byte, i int, seg []byte) []byte {
	b = binary.AppendUvarint(b, uint64(i))
	b = binary.AppendUvarint(b, uint64(len(seg)))
	return append(b, seg...)
}
