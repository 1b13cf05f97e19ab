package rollout

import (
	"encoding/json"
	"fmt"
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
	chunks  [][]byte
	dirty   []bool
	// planAt is where the plan starts in the last encoding, from the
	// start of its body.
	planAt int
}

// touch marks the target at plan position p as changed since the last
// encoding.
func (s *State) touch(p int) {
	if s.enc != nil {
		s.enc.dirty[p/chunkSize] = true
	}
}

type stateAlias State

// head is the state without its plan and targets: the shallower Plan and
// Targets fields hide the embedded ones and, nil, are omitted.
type head struct {
	*stateAlias
	Plan    *struct{} `json:"plan,omitempty"`
	Targets *struct{} `json:"targets,omitempty"`
}

// encodeBody appends the state's JSON to prefix.
func (s *State) encodeBody(prefix []byte) ([]byte, error) {
	n := (len(s.Targets) + chunkSize - 1) / chunkSize
	if s.enc == nil || len(s.enc.chunks) != n {
		plan, err := json.Marshal(s.Plan)
		if err != nil {
			return nil, err
		}
		s.enc = &encCache{plan: plan, planCRC: crc32.Checksum(plan, castagnoli), chunks: make([][]byte, n), dirty: make([]bool, n)}
		for i := range s.enc.dirty {
			s.enc.dirty[i] = true
		}
	}
	e := s.enc
	size := 0
	for i := range e.chunks {
		if e.dirty[i] {
			lo, hi := i*chunkSize, min((i+1)*chunkSize, len(s.Targets))
			b := e.chunks[i][:0]
			for p := lo; p < hi; p++ {
				if p > lo {
					b = append(b, ',')
				}
				b = appendTarget(b, &s.Targets[p])
			}
			e.chunks[i] = b
			e.dirty[i] = false
		}
		size += len(e.chunks[i]) + 1
	}
	h, err := json.Marshal(head{stateAlias: (*stateAlias)(s)})
	if err != nil {
		return nil, err
	}
	if len(h) < 2 || h[len(h)-1] != '}' {
		return nil, fmt.Errorf("rollout: encode state: unexpected head %.20q", h)
	}
	b := slices.Grow(prefix, len(h)+len(e.plan)+size+64)
	b = append(b, h[:len(h)-1]...)
	b = append(b, `,"plan":`...)
	e.planAt = len(b) - len(prefix)
	b = append(b, e.plan...)
	b = append(b, `,"targets":[`...)
	for i, c := range e.chunks {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, c...)
	}
	b = append(b, "]}"...)
	return b, nil
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
