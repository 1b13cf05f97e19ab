package rollout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"strconv"
	"sync"
)

// Store persists rollout states under a lease. It deals in the bytes that
// [EncodeState] produces, so that every store gets the schema version and
// the corruption check for free.
//
// Load takes the lease on rollout id, for the caller alone, and returns the
// saved bytes (nil when there are none) with a fencing token. While the
// lease is held, another Load of the same id fails with [ErrLocked]. Save
// replaces the saved bytes atomically (all or nothing) and must fail with
// [ErrFenced] when token is not the current lease holder's: a store shared
// by several machines, whose leases expire, compares the token in the same
// transaction as the write, so that a driver that lost its lease (a long GC
// pause, a partition) cannot overwrite its successor's state. Tokens grow
// with every lease taken. Save must not keep data after it returns (the
// driver reuses the buffer): copy it. Release gives the lease up; it is
// idempotent.
type Store interface {
	Load(ctx context.Context, id string) (data []byte, token uint64, err error)
	Save(ctx context.Context, id string, token uint64, data []byte) error
	Release(ctx context.Context, id string, token uint64) error
}

// envelope is the saved form: the schema version and a checksum around the
// state's JSON.
type envelope struct {
	Schema   int             `json:"schema"`
	Checksum string          `json:"checksum"`
	State    json.RawMessage `json:"state"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// EncodeState returns the saved form of s: JSON with the schema version and
// a CRC-32C checksum of the state, which [DecodeState] verifies. It must not
// run concurrently with [State.Step].
func EncodeState(s *State) ([]byte, error) { return appendState(nil, s) }

// appendState appends the saved form of s to buf.
func appendState(buf []byte, s *State) ([]byte, error) {
	b, _, err := appendWhole(buf, s)
	return b, err
}

// appendWhole is appendState that also says how many bytes it appended
// before the plan: the prefix and the head.
func appendWhole(buf []byte, s *State) (b []byte, head int, err error) {
	if err := s.check(); err != nil {
		return nil, 0, err
	}
	h, sum, err := s.parts()
	if err != nil {
		return nil, 0, fmt.Errorf("rollout: encode state: %w", err)
	}
	b = appendPrefix(buf, s.Schema)
	head = len(b) - len(buf) + len(h) + len(planKey)
	b = s.appendBody(b, h)
	return appendChecksum(b, sum), head, nil
}

// appendPrefix and appendChecksum append what comes before and after the
// body in a saved state.
func appendPrefix(b []byte, schema int) []byte {
	b = append(b, `{"schema":`...)
	b = strconv.AppendInt(b, int64(schema), 10)
	return append(b, `,"state":`...)
}

func appendChecksum(b []byte, sum uint32) []byte {
	b = append(b, `,"checksum":"crc32c:`...)
	b = strconv.AppendUint(b, uint64(sum), 16)
	return append(b, "\"}\n"...)
}

// DecodeState decodes and checks a saved state: [ErrCorrupt] when it does
// not parse or fails its checksum, a [*SchemaError] when it was written by
// a newer version of this package, and the plan's problems when the state
// does not agree with its own plan. The returned state is ready to step
// (after a [Restarted] observation).
func DecodeState(data []byte) (*State, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if env.Schema < 1 || len(env.State) == 0 || string(env.State) == "null" {
		// No driver ever wrote schema 0 or a state-less envelope: the
		// bytes are damaged, not from the future.
		return nil, fmt.Errorf("%w: no schema version or no state (schema %d)", ErrCorrupt, env.Schema)
	}
	if env.Schema > SchemaVersion {
		return nil, &SchemaError{Got: env.Schema, Want: SchemaVersion}
	}
	want := "crc32c:" + strconv.FormatUint(uint64(crc32.Checksum(env.State, castagnoli)), 16)
	if env.Checksum != want {
		return nil, fmt.Errorf("%w: checksum %q does not match the content (%s)", ErrCorrupt, env.Checksum, want)
	}
	var s State
	if err := json.Unmarshal(env.State, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if s.Schema != env.Schema {
		return nil, fmt.Errorf("%w: envelope schema %d, state schema %d", ErrCorrupt, env.Schema, s.Schema)
	}
	if s.Schema < SchemaVersion {
		if err := migrate(&s, env.State); err != nil {
			return nil, err
		}
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return &s, nil
}

// MemoryStore is a [Store] in memory, for tests and for runs that need no
// durability. The zero value is ready to use; it is safe for concurrent
// use.
type MemoryStore struct {
	mu     sync.Mutex
	data   map[string][]byte
	holder map[string]uint64
	next   uint64
}

// Load implements [Store].
func (m *MemoryStore) Load(ctx context.Context, id string) ([]byte, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.holder == nil {
		m.holder = map[string]uint64{}
		m.data = map[string][]byte{}
	}
	if _, held := m.holder[id]; held {
		return nil, 0, fmt.Errorf("%w: rollout %q", ErrLocked, id)
	}
	m.next++
	m.holder[id] = m.next
	return bytes.Clone(m.data[id]), m.next, nil
}

// Save implements [Store].
func (m *MemoryStore) Save(ctx context.Context, id string, token uint64, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if h, ok := m.holder[id]; !ok || h != token {
		return fmt.Errorf("%w: rollout %q", ErrFenced, id)
	}
	m.data[id] = bytes.Clone(data)
	return nil
}

// Release implements [Store].
func (m *MemoryStore) Release(ctx context.Context, id string, token uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h, ok := m.holder[id]; ok && h == token {
		delete(m.holder, id)
	}
	return nil
}

// Get returns the bytes saved for id, or nil, without taking the lease:
// for inspection in tests.
func (m *MemoryStore) Get(id string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return bytes.Clone(m.data[id])
}

// Put replaces the bytes saved for id without taking the lease: for tests
// that plant a corrupt or foreign state.
func (m *MemoryStore) Put(id string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		m.data = map[string][]byte{}
		m.holder = map[string]uint64{}
	}
	m.data[id] = bytes.Clone(data)
}
