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
	token, err := bumpToken(lf)
	if err == nil {
		var data []byte
		data, err = os.ReadFile(f.path(id, ".json"))
		if errors.Is(err, fs.ErrNotExist) {
			data, err = nil, nil
		}
		if err == nil {
			if f.held == nil {
				f.held = map[string]*heldLock{}
			}
			f.held[id] = &heldLock{f: lf, token: token}
			return data, token, nil
		}
	}
	unlockFile(lf)
	lf.Close()
	return nil, 0, fmt.Errorf("rollout: file store: %w", err)
}

// bumpToken increments the fencing counter kept in the lock file.
func bumpToken(lf *os.File) (uint64, error) {
	buf := make([]byte, 32)
	n, err := lf.ReadAt(buf, 0)
	if err != nil && n == 0 && !errors.Is(err, errEOF) {
		return 0, err
	}
	prev, _ := strconv.ParseUint(strings.TrimSpace(string(buf[:n])), 10, 64)
	token := prev + 1
	if err := lf.Truncate(0); err != nil {
		return 0, err
	}
	if _, err := lf.WriteAt([]byte(strconv.FormatUint(token, 10)+"\n"), 0); err != nil {
		return 0, err
	}
	return token, lf.Sync()
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
	return nil
}

// Release implements [Store].
func (f *FileStore) Release(id string, token uint64) error {
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
