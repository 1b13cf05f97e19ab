// Package pgstore is a [rollout.Store] in PostgreSQL, for deploy tools that
// run as several replicas: the lease on a rollout, with its fencing token,
// is held in the database, so that two replicas never drive the same
// rollout, and a replica that dies loses its leases when they expire.
//
// Each rollout is a row of the leases table (its holder, token, expiry,
// phase and time of the last save) and a journal of records in the
// records table, in the format of the file store (see
// [rollout.FileStore]): a snapshot of the state [rollout.EncodeState]
// made, then one record per save holding only the targets that changed,
// each with a CRC-32C. A save writes its record in the same transaction
// that checks the saver's token, so that a replica that lost its lease
// (a long pause, a partition) cannot overwrite its successor's state: it
// gets [rollout.ErrFenced]. The schema version and checksum of the state
// are [rollout.DecodeState]'s to check, as with every store.
//
// Open a store with [New] on a pgx pool the caller owns, and [Store.Close]
// it when done. Tables are created if they do not exist.
package pgstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shepherd-go/shepherd/internal/journal"
	"github.com/shepherd-go/shepherd/rollout"
)

// DefaultLease is how long a lease lasts without renewal when
// [Config.Lease] is zero.
const DefaultLease = 30 * time.Second

// Config configures a [Store]. The zero value is ready to use.
type Config struct {
	// Lease is how long a lease lasts without renewal: how long after a
	// replica dies another may take its rollouts over. The store renews
	// its leases every third of it while they are held. Zero means
	// [DefaultLease]; it must be at least a second.
	Lease time.Duration
	// Holder names this replica in the leases table, for people who
	// look. Empty means the host name and the process ID.
	Holder string
	// Prefix starts the names of the two tables, PrefixLeases and
	// PrefixRecords. Empty means "shepherd_rollout_". It must be a SQL
	// identifier: letters, digits and '_'.
	Prefix string
}

// Store is a [rollout.Store] in PostgreSQL. It is safe for concurrent
// use. Its methods fail with [rollout.ErrLocked], [rollout.ErrFenced] and
// [rollout.ErrCorrupt] as the interface says, and otherwise with the
// database's error, wrapped.
type Store struct {
	pool   *pgxpool.Pool
	lease  time.Duration
	holder string
	leases string // table names, quoted
	recs   string

	mu     sync.Mutex
	held   map[string]*held
	closed bool
	stop   chan struct{}
	done   chan struct{} // closed when the renewer returns; nil until it starts
}

// held is a lease this store holds, with the last state saved for
// computing deltas.
type held struct {
	token uint64
	lost  bool // a renewal found the lease taken over

	mu    sync.Mutex // serialises the holder's saves
	seq   uint64     // the journal's last record; 0: write a snapshot next
	snap  int
	since int
	prev  []byte
	segs  []int
	buf   []byte
	delta []byte
	nsegs []int
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// New returns a store on pool, creating its tables if they do not exist.
// The caller keeps ownership of the pool: [Store.Close] does not close it.
func New(ctx context.Context, pool *pgxpool.Pool, c Config) (*Store, error) {
	if pool == nil {
		return nil, &rollout.FieldError{Path: "pool", Problem: "nil", Err: rollout.ErrInvalid}
	}
	if c.Lease == 0 {
		c.Lease = DefaultLease
	}
	if c.Lease < time.Second {
		return nil, &rollout.FieldError{Path: "Config.Lease", Problem: fmt.Sprintf("%s is shorter than a second", c.Lease), Err: rollout.ErrInvalid}
	}
	if c.Prefix == "" {
		c.Prefix = "shepherd_rollout_"
	}
	if !identifier.MatchString(c.Prefix) {
		return nil, &rollout.FieldError{Path: "Config.Prefix", Problem: fmt.Sprintf("%q is not a SQL identifier", c.Prefix), Err: rollout.ErrInvalid}
	}
	if c.Holder == "" {
		host, _ := os.Hostname()
		c.Holder = host + ":" + strconv.Itoa(os.Getpid())
	}
	s := &Store{
		pool:   pool,
		lease:  c.Lease,
		holder: c.Holder,
		leases: pgx.Identifier{c.Prefix + "leases"}.Sanitize(),
		recs:   pgx.Identifier{c.Prefix + "records"}.Sanitize(),
		held:   map[string]*held{},
		stop:   make(chan struct{}),
	}
	// Two replicas starting at once may both create the tables: the
	// advisory lock takes them in turn.
	ddl := `SELECT pg_advisory_xact_lock(hashtext(` + quote(c.Prefix) + `));
CREATE TABLE IF NOT EXISTS ` + s.leases + ` (
	id      text PRIMARY KEY,
	holder  text NOT NULL DEFAULT '',
	token   bigint NOT NULL DEFAULT 0,
	expires timestamptz,
	saved   boolean NOT NULL DEFAULT false,
	phase   text NOT NULL DEFAULT '',
	updated timestamptz
);
CREATE INDEX IF NOT EXISTS ` + pgx.Identifier{c.Prefix + "leases_phase"}.Sanitize() + ` ON ` + s.leases + ` (phase);
CREATE TABLE IF NOT EXISTS ` + s.recs + ` (
	id     text NOT NULL REFERENCES ` + s.leases + ` (id) ON DELETE CASCADE,
	seq    bigint NOT NULL,
	record bytea NOT NULL,
	PRIMARY KEY (id, seq)
);`
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, ddl)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: creating tables: %w", err)
	}
	return s, nil
}

func quote(s string) string { return "'" + s + "'" } // s is an identifier

func (s *Store) interval() string {
	return strconv.FormatInt(s.lease.Microseconds(), 10) + " microseconds"
}

// Load implements [rollout.Store]: it takes the lease if nobody holds it
// or its holder's has expired, with a token one larger than the last, and
// reads the state back from its journal, all in one transaction (a Load
// that fails takes no lease).
func (s *Store) Load(ctx context.Context, id string) ([]byte, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, 0, errors.New("pgstore: store is closed")
	}
	if s.held[id] != nil {
		s.mu.Unlock()
		return nil, 0, fmt.Errorf("%w: rollout %q (held by this store)", rollout.ErrLocked, id)
	}
	// Reserve the ID so that a concurrent Load of it in this store waits
	// for no database round trip to fail.
	s.held[id] = &held{}
	s.mu.Unlock()
	h, data, err := s.load(ctx, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		delete(s.held, id)
		return nil, 0, err
	}
	s.held[id] = h
	s.startRenewer()
	return data, h.token, nil
}

func (s *Store) load(ctx context.Context, id string) (*held, []byte, error) {
	var (
		h    held
		data []byte
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO `+s.leases+` (id) VALUES ($1) ON CONFLICT DO NOTHING`, id); err != nil {
			return err
		}
		var (
			saved   bool
			holder  string
			expires *time.Time
		)
		err := tx.QueryRow(ctx, `UPDATE `+s.leases+` SET holder = $2, token = token + 1, expires = now() + interval '`+s.interval()+`'
			WHERE id = $1 AND (holder = '' OR expires IS NULL OR expires < now())
			RETURNING token, saved`, id, s.holder).Scan(&h.token, &saved)
		if errors.Is(err, pgx.ErrNoRows) {
			_ = tx.QueryRow(ctx, `SELECT holder, expires FROM `+s.leases+` WHERE id = $1`, id).Scan(&holder, &expires)
			until := ""
			if expires != nil {
				until = " until " + expires.UTC().Format(time.RFC3339)
			}
			return fmt.Errorf("%w: rollout %q (held by %s%s)", rollout.ErrLocked, id, holder, until)
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT record FROM `+s.recs+` WHERE id = $1 ORDER BY seq`, id)
		if err != nil {
			return err
		}
		var all []byte
		for rows.Next() {
			var rec []byte
			if err := rows.Scan(&rec); err != nil {
				rows.Close()
				return err
			}
			all = append(all, rec...)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(all) == 0 {
			if saved {
				return fmt.Errorf("%w: rollout %q: its lease row says a state was saved but it has no records; "+
					"refusing to start the rollout again from scratch (delete its lease row to do that on purpose)", rollout.ErrCorrupt, id)
			}
			return nil
		}
		r, err := journal.Replay(all)
		if err == nil && r.Valid != len(all) {
			// A database commits records whole: a bad one is damage,
			// not a torn write.
			err = fmt.Errorf("record %d is followed by a damaged one", r.Seq)
		}
		if err != nil {
			return fmt.Errorf("%w: rollout %q: %v", rollout.ErrCorrupt, id, err)
		}
		data = r.Data
		h.seq, h.snap, h.since, h.prev, h.segs = r.Seq, r.Snap, r.Since, r.Data, r.Segs
		return nil
	})
	if err != nil {
		switch {
		case errors.Is(err, rollout.ErrLocked), errors.Is(err, rollout.ErrCorrupt):
		case ctx.Err() != nil:
			err = fmt.Errorf("pgstore: load %q: %w", id, context.Cause(ctx))
		default:
			err = fmt.Errorf("pgstore: load %q: %w", id, err)
		}
		return nil, nil, err
	}
	return &h, bytes.Clone(data), nil
}

// Save implements [rollout.Store]: in one transaction, it checks that
// token is still the lease's and extends the lease, then appends the
// delta from the last state saved (or a new snapshot, which replaces the
// journal, when the deltas since the last one would outgrow it).
func (s *Store) Save(ctx context.Context, id string, token uint64, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	h := s.held[id]
	s.mu.Unlock()
	if h == nil || token == 0 || h.token != token || h.lost {
		return fmt.Errorf("%w: rollout %q", rollout.ErrFenced, id)
	}
	phase, err := phaseOf(data)
	if err != nil {
		// Not a state this package can read: any bytes are stored, with
		// no phase to list them by.
		phase = ""
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var delta []byte
	diffed := false
	if h.seq > 0 {
		if h.segs == nil {
			h.segs = journal.Split(nil, h.prev)
		}
		delta, h.nsegs = journal.Diff(h.delta[:0], h.nsegs[:0], data, h.prev, h.segs)
		h.delta, diffed = delta, true
		if h.since+len(delta) > h.snap {
			delta = nil
		}
	}
	kind := byte(journal.Snapshot)
	payload := data
	if delta != nil {
		kind, payload = journal.Delta, delta
	}
	h.buf = journal.AppendRecord(h.buf[:0], kind, h.seq+1, payload)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE `+s.leases+` SET expires = now() + interval '`+s.interval()+`', saved = true, phase = $4, updated = now()
			WHERE id = $1 AND token = $2 AND holder = $3`, id, int64(token), s.holder, string(phase))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: rollout %q", rollout.ErrFenced, id)
		}
		if kind == journal.Snapshot {
			if _, err := tx.Exec(ctx, `DELETE FROM `+s.recs+` WHERE id = $1`, id); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO `+s.recs+` (id, seq, record) VALUES ($1, $2, $3)`, id, int64(h.seq+1), h.buf)
		return err
	})
	if err != nil {
		// Whether a commit that failed took effect is unknown: the next
		// save writes a whole snapshot, which does not depend on it.
		h.seq, h.segs = 0, nil
		if errors.Is(err, rollout.ErrFenced) {
			s.mu.Lock()
			h.lost = true
			s.mu.Unlock()
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("pgstore: save %q: %w", id, context.Cause(ctx))
		}
		return fmt.Errorf("pgstore: save %q: %w", id, err)
	}
	h.seq++
	if kind == journal.Snapshot {
		h.snap, h.since = len(h.buf), 0
	} else {
		h.since += len(h.buf)
	}
	if diffed {
		h.segs, h.nsegs = h.nsegs, h.segs // data's segments
	} else {
		h.segs = nil // split at the next save
	}
	h.prev = append(h.prev[:0], data...)
	return nil
}

// Release implements [rollout.Store]: it gives the lease up in the
// database, so that another replica need not wait for it to expire.
func (s *Store) Release(ctx context.Context, id string, token uint64) error {
	s.mu.Lock()
	h := s.held[id]
	if h == nil || token == 0 || h.token != token {
		s.mu.Unlock()
		return nil
	}
	delete(s.held, id)
	s.mu.Unlock()
	h.mu.Lock() // wait for a save in progress
	h.mu.Unlock()
	_, err := s.pool.Exec(ctx, `UPDATE `+s.leases+` SET holder = '', expires = NULL WHERE id = $1 AND token = $2 AND holder = $3`,
		id, int64(token), s.holder)
	if err != nil {
		return fmt.Errorf("pgstore: release %q: %w", id, err)
	}
	return nil
}

// startRenewer starts the goroutine that renews the leases, once. The
// caller holds s.mu.
func (s *Store) startRenewer() {
	if s.done != nil {
		return
	}
	s.done = make(chan struct{})
	go s.renew()
}

// renew extends the held leases every third of the lease, until Close. A
// lease found taken over is marked lost: its holder's next Save fails
// with [rollout.ErrFenced] without asking the database.
func (s *Store) renew() {
	defer close(s.done)
	t := time.NewTicker(s.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		ids := make([]string, 0, len(s.held))
		tokens := make([]int64, 0, len(s.held))
		for id, h := range s.held {
			if h.token != 0 && !h.lost {
				ids, tokens = append(ids, id), append(tokens, int64(h.token))
			}
		}
		s.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.lease/3)
		rows, err := s.pool.Query(ctx, `UPDATE `+s.leases+` l SET expires = now() + interval '`+s.interval()+`'
			FROM unnest($1::text[], $2::bigint[]) AS h(id, token)
			WHERE l.id = h.id AND l.token = h.token AND l.holder = $3
			RETURNING l.id`, ids, tokens, s.holder)
		renewed := map[string]bool{}
		if err == nil {
			for rows.Next() {
				var id string
				if rows.Scan(&id) == nil {
					renewed[id] = true
				}
			}
			err = rows.Err()
		}
		cancel()
		if err != nil {
			continue // the database is unreachable: try again; saves will tell
		}
		s.mu.Lock()
		for i, id := range ids {
			if h := s.held[id]; h != nil && int64(h.token) == tokens[i] && !renewed[id] {
				h.lost = true
			}
		}
		s.mu.Unlock()
	}
}

// Close stops renewing leases and releases those still held. It does not
// close the pool. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	done := s.done
	tokens := map[string]uint64{}
	for id, h := range s.held {
		tokens[id] = h.token
	}
	s.mu.Unlock()
	if done != nil {
		<-done
	}
	var errs []error
	for id, tok := range tokens {
		errs = append(errs, s.Release(context.Background(), id, tok))
	}
	return errors.Join(errs...)
}

// Info describes a rollout in the store.
type Info struct {
	// ID names the rollout.
	ID string
	// Phase is the phase of its last saved state; empty when none was
	// saved or the state was not one [rollout.EncodeState] made.
	Phase rollout.Phase
	// Holder names the replica that holds its lease and Token is the
	// lease's fencing token; Holder is empty when nobody holds it.
	Holder string
	Token  uint64
	// Expires is when the lease expires unless renewed (zero when
	// nobody holds it); Updated is when a state was last saved.
	Expires, Updated time.Time
}

// List returns the rollouts whose last saved state is in one of phases
// (all of them when phases is empty), by ID.
func (s *Store) List(ctx context.Context, phases ...rollout.Phase) ([]Info, error) {
	ps := make([]string, len(phases))
	for i, p := range phases {
		ps[i] = string(p)
	}
	rows, err := s.pool.Query(ctx, `SELECT id, phase, holder, token, expires, updated FROM `+s.leases+`
		WHERE (cardinality($1::text[]) = 0 OR phase = ANY($1)) ORDER BY id`, ps)
	if err != nil {
		return nil, fmt.Errorf("pgstore: list: %w", err)
	}
	var out []Info
	for rows.Next() {
		var (
			in               Info
			phase            string
			token            int64
			expires, updated *time.Time
		)
		if err := rows.Scan(&in.ID, &phase, &in.Holder, &token, &expires, &updated); err != nil {
			rows.Close()
			return nil, fmt.Errorf("pgstore: list: %w", err)
		}
		in.Phase, in.Token = rollout.Phase(phase), uint64(token)
		if expires != nil {
			in.Expires = *expires
		}
		if updated != nil {
			in.Updated = *updated
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: list: %w", err)
	}
	return out, nil
}

// phaseOf reads the phase from the head of a saved state, without
// decoding the rest (which holds every target): the envelope's "state"
// object lists "phase" before the plan and the targets.
func phaseOf(data []byte) (rollout.Phase, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	want := func(d json.Delim) error {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		if t != d {
			return fmt.Errorf("unexpected %v", t)
		}
		return nil
	}
	if err := want('{'); err != nil {
		return "", err
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return "", err
		}
		if k != "state" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return "", err
			}
			continue
		}
		if err := want('{'); err != nil {
			return "", err
		}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return "", err
			}
			if k == "plan" || k == "targets" {
				break
			}
			if k == "phase" {
				var p rollout.Phase
				err := dec.Decode(&p)
				return p, err
			}
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return "", err
			}
		}
		break
	}
	return "", errors.New("no phase")
}
