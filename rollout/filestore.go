package rollout

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// FileStore is the default durable [Store]: one file per rollout in Dir,
// written atomically (write a temporary file, fsync it, rename it over the
// old one, fsync the directory), so that a crash leaves either the old
// state or the new one, never half of one. [DecodeState] detects a file
// that was damaged anyway.
//
// The lease is an OS file lock (flock) on a lock file next to the state,
// which the kernel releases when the process dies: a second driver on the
// same rollout, in this process or another on the same machine, gets
// [ErrLocked]. The lock file also holds the fencing counter. (Locks on
// network file systems are only as good as the file system's.)
//
// The lock file also remembers that a state was saved: if the state file
// goes missing while its lock file says it was saved, Load refuses with
// [ErrCorrupt] instead of letting [Create] start the same rollout from
// scratch (delete the lock file to start afresh on purpose). A lock file
// whose counter cannot be read is refused the same way, never reset: a
// reset counter would hand out fencing tokens that were used before.
// Temporary files left by a save that was interrupted are removed when
// the next driver takes the lease.
//
// Use it as &FileStore{Dir: dir}; the directory must exist. It is safe for
// concurrent use.
type FileStore struct {
	// Dir is the directory of the files; it must exist.
	Dir string

	mu   sync.Mutex
	held map[string]*heldLock
}

type heldLock struct {
	f     *os.File
	token uint64
	saved bool // the lock file says a state was saved
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
	data, err := os.ReadFile(f.path(id, ".json"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if saved {
			return fail(fmt.Errorf("%w: rollout %q: the state file is missing but lock file %s says a state was saved; "+
				"refusing to start the rollout again from scratch (delete the lock file to do that on purpose)", ErrCorrupt, id, lf.Name()))
		}
		data = nil
	case err != nil:
		return fail(fmt.Errorf("rollout: file store: %w", err))
	}
	token := prev + 1
	if err := writeLock(lf, token, saved); err != nil {
		return fail(fmt.Errorf("rollout: file store: %w", err))
	}
	f.removeTemps(id)
	if f.held == nil {
		f.held = map[string]*heldLock{}
	}
	f.held[id] = &heldLock{f: lf, token: token, saved: saved}
	return data, token, nil
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
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	h := f.held[id]
	f.mu.Unlock()
	if h == nil || h.token != token {
		return fmt.Errorf("%w: rollout %q", ErrFenced, id)
	}
	tmp, err := os.CreateTemp(f.Dir, "."+id+".*.tmp")
	if err != nil {
		return fmt.Errorf("rollout: file store: %w", err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), f.path(id, ".json"))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("rollout: file store: %w", err)
	}
	// The rename is durable only once the directory is synced.
	if d, err := os.Open(f.Dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("rollout: file store: sync directory: %w", err)
		}
	}
	if !h.saved {
		// From now on a missing state file is a lost state, not a new
		// rollout.
		if err := writeLock(h.f, h.token, true); err != nil {
			return fmt.Errorf("rollout: file store: %w", err)
		}
		h.saved = true
	}
	return nil
}

// Release implements [Store].
func (f *FileStore) Release(ctx context.Context, id string, token uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.held[id]
	if h == nil || h.token != token {
		return nil
	}
	delete(f.held, id)
	err := unlockFile(h.f)
	if cerr := h.f.Close(); err == nil {
		err = cerr
	}
	return err
}
