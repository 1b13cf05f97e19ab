package rollout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/shepherd-go/shepherd/internal/journal"
)

// FileStore is the default durable [Store]: one journal per rollout in
// Dir (id.journal), to which each save appends a record of what changed
// since the last one, synced before Save returns (a save the Runner marks
// [Delta.Deferrable] is synced with the next one), so that the bytes
// written grow with the targets that changed rather than with the size of
// the state. A save whose changes since the last snapshot would outgrow
// the snapshot writes a new snapshot instead, to a temporary file that is
// synced and renamed over the journal (compaction): the journal never
// holds more than about twice the state, and a crash leaves either the old
// journal or the new one. Every record carries a CRC-32C; a record torn by
// a crash in the middle of an append (the save never returned) is ignored
// and cut off by the next driver, while a damaged record followed by
// valid ones is refused with [ErrCorrupt]. [DecodeState] checks the state
// read back as well.
//
// The lease is an OS file lock (flock) on a lock file next to the
// journal, which the kernel releases when the process dies: a second
// driver on the same rollout, in this process or another on the same
// machine, gets [ErrLocked]. The lock file also holds the fencing counter.
// (Locks on network file systems are only as good as the file system's.)
//
// The lock file also remembers that a state was saved: if the journal
// goes missing while its lock file says it was saved, Load refuses with
// [ErrCorrupt] instead of letting [Create] start the same rollout from
// scratch (delete the lock file to start afresh on purpose). A lock file
// whose counter cannot be read is refused the same way, never reset: a
// reset counter would hand out fencing tokens that were used before.
// Temporary files left by a compaction that was interrupted are removed
// when the next driver takes the lease.
//
// Earlier versions kept one file per rollout, id.json, rewritten whole at
// every save: Load reads such a file when there is no journal, and the
// first save replaces it with a journal.
//
// Use it as &FileStore{Dir: dir}; the directory must exist. It is safe for
// concurrent use.
type FileStore struct {
	// Dir is the directory of the files; it must exist.
	Dir string

	mu   sync.Mutex
	held map[string]*heldLock
}

// heldLock is a lease this store holds, with what it needs to append to
// the rollout's journal.
type heldLock struct {
	f     *os.File
	token uint64
	saved bool // the lock file says a state was saved

	mu     sync.Mutex // serialises the holder's saves
	j      *os.File   // the journal, open for appending; nil: compact at the next save
	size   int64      // the journal's length
	seq    uint64     // the journal's last record
	snap   int        // bytes of its last snapshot record
	since  int        // bytes of the delta records after it
	legacy bool       // an id.json of an earlier version is to be removed
	prev   []byte     // the last state saved or loaded; nil after a delta
	last   uint64     // the Runner's number of the last save taken (Delta.Seq)
	segs   []int      // start offsets of prev's segments; nil: not split yet
	buf    []byte     // scratch for records
	delta  []byte     // scratch for deltas
	nsegs  []int      // scratch for the next segments
}

func validFileID(id string) error {
	if id == "" || id == "." || id == ".." || strings.HasPrefix(id, ".") {
		return &FieldError{Path: "id", Problem: fmt.Sprintf("%q cannot name a file", id), Err: ErrInvalid}
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return &FieldError{Path: "id", Problem: fmt.Sprintf("%q: a file store takes letters, digits, '-', '_' and '.' only", id), Err: ErrInvalid}
		}
	}
	return nil
}

func (f *FileStore) path(id, ext string) string { return filepath.Join(f.Dir, id+ext) }

// Load implements [Store].
func (f *FileStore) Load(ctx context.Context, id string) ([]byte, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if err := validFileID(id); err != nil {
		return nil, 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held[id] != nil {
		return nil, 0, fmt.Errorf("%w: rollout %q", ErrLocked, id)
	}
	lf, err := os.OpenFile(f.path(id, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, 0, fmt.Errorf("rollout: file store: %w", err)
	}
	if err := lockFile(lf); err != nil {
		lf.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, 0, fmt.Errorf("%w: rollout %q (file %s)", ErrLocked, id, lf.Name())
		}
		return nil, 0, fmt.Errorf("rollout: file store: lock: %w", err)
	}
	fail := func(err error) ([]byte, uint64, error) {
		unlockFile(lf)
		lf.Close()
		return nil, 0, err
	}
	prev, saved, err := readLock(lf)
	if err != nil {
		return fail(fmt.Errorf("%w: rollout %q: lock file %s: %v (its fencing counter cannot be trusted; refusing rather than resetting it)", ErrCorrupt, id, lf.Name(), err))
	}
	h := &heldLock{f: lf, token: prev + 1, saved: saved}
	data, err := f.read(id, h)
	if err != nil {
		return fail(err)
	}
	if data == nil && saved {
		return fail(fmt.Errorf("%w: rollout %q: the journal is missing but lock file %s says a state was saved; "+
			"refusing to start the rollout again from scratch (delete the lock file to do that on purpose)", ErrCorrupt, id, lf.Name()))
	}
	if err := writeLock(lf, h.token, saved); err != nil {
		h.close()
		return fail(fmt.Errorf("rollout: file store: %w", err))
	}
	f.removeTemps(id)
	if f.held == nil {
		f.held = map[string]*heldLock{}
	}
	f.held[id] = h
	return bytes.Clone(data), h.token, nil
}

// read reads the saved state of id into h, from its journal or, for a
// rollout saved by an earlier version, its single file; nil if neither
// exists. It cuts a torn tail off the journal (the caller holds the lease)
// and leaves it open for appending.
func (f *FileStore) read(id string, h *heldLock) ([]byte, error) {
	b, err := os.ReadFile(f.path(id, ".journal"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		data, err := os.ReadFile(f.path(id, ".json"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("rollout: file store: %w", err)
		}
		h.prev, h.legacy = data, true
		return data, nil
	case err != nil:
		return nil, fmt.Errorf("rollout: file store: %w", err)
	}
	r, err := journal.Replay(b)
	if err != nil {
		return nil, fmt.Errorf("%w: rollout %q: journal %s: %v", ErrCorrupt, id, f.path(id, ".journal"), err)
	}
	j, err := os.OpenFile(f.path(id, ".journal"), os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("rollout: file store: %w", err)
	}
	if r.Valid < len(b) {
		// A torn tail: cut it off before anything is appended after it.
		if err := j.Truncate(int64(r.Valid)); err == nil {
			err = j.Sync()
		}
		if err != nil {
			j.Close()
			return nil, fmt.Errorf("rollout: file store: cutting the torn tail off the journal: %w", err)
		}
	}
	h.j, h.size, h.seq, h.snap, h.since = j, int64(r.Valid), r.Seq, r.Snap, r.Since
	h.prev, h.segs = r.Data, r.Segs
	// A journal written, the legacy file is stale; a crash may have left
	// it behind.
	if _, err := os.Stat(f.path(id, ".json")); err == nil {
		h.legacy = true
	}
	return r.Data, nil
}

// close closes the journal.
func (h *heldLock) close() {
	if h.j != nil {
		h.j.Close()
		h.j = nil
	}
}

// readLock reads the lock file: the fencing counter, and whether a state
// was saved ("7 saved"). An empty file is a new one.
func readLock(lf *os.File) (token uint64, saved bool, err error) {
	buf := make([]byte, 64)
	n, err := lf.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, errEOF) {
		return 0, false, err
	}
	fields := strings.Fields(string(buf[:n]))
	if len(fields) == 0 {
		return 0, false, nil
	}
	token, err = strconv.ParseUint(fields[0], 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("bad counter %q", fields[0])
	}
	switch {
	case len(fields) == 1:
	case len(fields) == 2 && fields[1] == "saved":
		saved = true
	default:
		return 0, false, fmt.Errorf("unexpected content %q", string(buf[:n]))
	}
	return token, saved, nil
}

// writeLock replaces the lock file's content and syncs it.
func writeLock(lf *os.File, token uint64, saved bool) error {
	line := strconv.FormatUint(token, 10)
	if saved {
		line += " saved"
	}
	if err := lf.Truncate(0); err != nil {
		return err
	}
	if _, err := lf.WriteAt([]byte(line+"\n"), 0); err != nil {
		return err
	}
	return lf.Sync()
}

// removeTemps removes the temporary files of interrupted saves of id. Only
// the lease holder writes them, and the caller holds the lease now.
func (f *FileStore) removeTemps(id string) {
	names, _ := filepath.Glob(filepath.Join(f.Dir, "."+id+".*.tmp"))
	for _, n := range names {
		// The pattern's "*" may match dots: make sure the file is this
		// rollout's and not one whose ID extends it.
		mid := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(n), "."+id+"."), ".tmp")
		if mid != "" && !strings.Contains(mid, ".") {
			os.Remove(n)
		}
	}
}

// Save implements [Store].
func (f *FileStore) Save(ctx context.Context, id string, token uint64, data []byte) error {
	return f.withLease(ctx, id, token, func(h *heldLock) error {
		h.last = 0
		return f.save(id, h, data)
	})
}

// SaveDelta implements [DeltaSaver]: it appends the changed segments to
// the journal when it took save d.Base, and saves d.Whole otherwise or
// when it compacts.
func (f *FileStore) SaveDelta(ctx context.Context, id string, token uint64, d *Delta) error {
	return f.withLease(ctx, id, token, func(h *heldLock) error {
		if err := f.saveDelta(id, h, d); err != nil {
			h.last = 0
			return err
		}
		h.last = d.Seq
		return nil
	})
}

// withLease runs save holding id's lease, and records in the lock file
// that a state was saved.
func (f *FileStore) withLease(ctx context.Context, id string, token uint64, save func(*heldLock) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	h := f.held[id]
	f.mu.Unlock()
	if h == nil || h.token != token {
		return fmt.Errorf("%w: rollout %q", ErrFenced, id)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if f.released(id, h) {
		return fmt.Errorf("%w: rollout %q", ErrFenced, id)
	}
	if err := save(h); err != nil {
		return fmt.Errorf("rollout: file store: %w", err)
	}
	if !h.saved {
		// From now on a missing journal is a lost state, not a new
		// rollout.
		if err := writeLock(h.f, h.token, true); err != nil {
			return fmt.Errorf("rollout: file store: %w", err)
		}
		h.saved = true
	}
	return nil
}

// saveDelta appends d to the journal, or compacts it into a snapshot of
// the whole state when the journal did not take d's base or has grown.
func (f *FileStore) saveDelta(id string, h *heldLock, d *Delta) error {
	if h.j == nil || d.Base == 0 || d.Base != h.last {
		data, err := d.Whole()
		if err != nil {
			return err
		}
		if err := f.compact(id, h, data); err != nil {
			return err
		}
		h.prev, h.segs = nil, nil
		return nil
	}
	p := journal.AppendDelta(h.delta[:0], d.Segments)
	for _, s := range d.Changed {
		p = journal.AppendSegment(p, s.Index, s.Bytes)
	}
	h.delta = p
	if h.since+len(p) > h.snap {
		data, err := d.Whole()
		if err != nil {
			return err
		}
		if err := f.compact(id, h, data); err != nil {
			return err
		}
	} else {
		h.buf = journal.AppendRecord(h.buf[:0], journal.Delta, h.seq+1, p)
		if err := h.append(h.buf, !d.Deferrable); err != nil {
			return err
		}
		h.since += len(h.buf)
	}
	// The last state is no longer kept whole: a Save that follows
	// compacts.
	h.prev, h.segs = nil, nil
	return nil
}

// released reports whether h is no longer the lease of id: Release ran
// while Save waited for h.
func (f *FileStore) released(id string, h *heldLock) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held[id] != h
}

// save appends the delta from the last state to data to the journal, or
// compacts it into a snapshot of data.
func (f *FileStore) save(id string, h *heldLock, data []byte) error {
	var delta []byte
	diffed := false
	if h.j != nil && h.prev != nil {
		if h.segs == nil {
			h.segs = journal.Split(nil, h.prev)
		}
		delta, h.nsegs = journal.Diff(h.delta[:0], h.nsegs[:0], data, h.prev, h.segs)
		h.delta, diffed = delta, true
		// Compact when the deltas since the last snapshot would outgrow
		// it: the bytes written stay within a constant factor of the
		// changes, and the journal within about twice the state.
		if h.since+len(delta) > h.snap {
			delta = nil
		}
	}
	var err error
	if delta == nil {
		err = f.compact(id, h, data)
	} else {
		h.buf = journal.AppendRecord(h.buf[:0], journal.Delta, h.seq+1, delta)
		if err = h.append(h.buf, true); err == nil {
			h.since += len(h.buf)
		}
	}
	if err != nil {
		return err // prev and its segments stay as they were
	}
	if diffed {
		h.segs, h.nsegs = h.nsegs, h.segs // data's segments
	} else {
		h.segs = nil // split at the next save
	}
	if cap(h.prev) < len(data) {
		// Room to grow: states grow a little as targets progress.
		h.prev = make([]byte, 0, len(data)+len(data)/2)
	}
	h.prev = append(h.prev[:0], data...)
	return nil
}

// append appends a record to the journal and, with sync, syncs it (and
// every record appended before it without). If that fails the journal may
// end in a torn record: the next save compacts.
func (h *heldLock) append(rec []byte, sync bool) error {
	_, err := h.j.WriteAt(rec, h.size)
	if err == nil && sync {
		err = h.j.Sync()
	}
	if err != nil {
		h.close()
		return err
	}
	h.size += int64(len(rec))
	h.seq++
	return nil
}

// compact replaces the journal with one snapshot of data.
func (f *FileStore) compact(id string, h *heldLock, data []byte) error {
	h.close()
	h.buf = journal.AppendHeader(h.buf[:0], journal.Snapshot, h.seq+1, data)
	size := len(h.buf) + len(data) + 1
	tmp, err := os.CreateTemp(f.Dir, "."+id+".*.tmp")
	if err != nil {
		return err
	}
	_, err = tmp.Write(h.buf)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		_, err = tmp.Write([]byte{'\n'})
	}
	if err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), f.path(id, ".journal"))
	}
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	// The rename is durable only once the directory is synced.
	if err := syncDir(f.Dir); err != nil {
		tmp.Close()
		return fmt.Errorf("sync directory: %w", err)
	}
	h.j, h.size, h.snap, h.since = tmp, int64(size), size, 0
	h.seq++
	if h.legacy {
		// The journal is durable: the earlier version's file is stale.
		if err := os.Remove(f.path(id, ".json")); err == nil || errors.Is(err, fs.ErrNotExist) {
			h.legacy = false
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	d.Close()
	return err
}

// Release implements [Store].
func (f *FileStore) Release(ctx context.Context, id string, token uint64) error {
	f.mu.Lock()
	h := f.held[id]
	if h == nil || h.token != token {
		f.mu.Unlock()
		return nil
	}
	delete(f.held, id)
	f.mu.Unlock()
	// Wait for a save in progress; the ones that follow see the lease
	// gone.
	h.mu.Lock()
	h.close()
	h.mu.Unlock()
	err := unlockFile(h.f)
	if cerr := h.f.Close(); err == nil {
		err = cerr
	}
	return err
}
