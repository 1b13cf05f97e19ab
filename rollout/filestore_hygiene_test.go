package rollout_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/shepherd-go/shepherd/rollout"
)

func saveOnce(t *testing.T, dir, id string) {
	t.Helper()
	fs := &rollout.FileStore{Dir: dir}
	_, tok, err := fs.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.Save(context.Background(), id, tok, []byte("state")); err != nil {
		t.Fatal(err)
	}
	if err := fs.Release(context.Background(), id, tok); err != nil {
		t.Fatal(err)
	}
}

func TestFileStoreMissingStateIsNotANewRollout(t *testing.T) {
	dir := t.TempDir()
	saveOnce(t, dir, "r1")
	if err := os.Remove(filepath.Join(dir, "r1.journal")); err != nil {
		t.Fatal(err)
	}
	fs := &rollout.FileStore{Dir: dir}
	if _, _, err := fs.Load(context.Background(), "r1"); !errors.Is(err, rollout.ErrCorrupt) {
		t.Fatalf("Load of a rollout whose journal is gone = %v, want ErrCorrupt", err)
	}
	// Deleting the lock file too is the explicit way to start afresh.
	if err := os.Remove(filepath.Join(dir, "r1.lock")); err != nil {
		t.Fatal(err)
	}
	data, _, err := fs.Load(context.Background(), "r1")
	if err != nil || data != nil {
		t.Fatalf("Load after removing the lock = %q, %v; want a fresh rollout", data, err)
	}
}

func TestFileStoreUnreadableCounterRefuses(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "r1.lock"), []byte("7x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := &rollout.FileStore{Dir: dir}
	if _, _, err := fs.Load(context.Background(), "r1"); !errors.Is(err, rollout.ErrCorrupt) {
		t.Fatalf("Load with a damaged counter = %v, want ErrCorrupt", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "r1.lock")); string(b) != "7x\n" {
		t.Errorf("the damaged counter was rewritten to %q", b)
	}
}

func TestFileStoreCounterGrowsAcrossLeases(t *testing.T) {
	dir := t.TempDir()
	fs := &rollout.FileStore{Dir: dir}
	var last uint64
	for range 3 {
		_, tok, err := fs.Load(context.Background(), "r1")
		if err != nil {
			t.Fatal(err)
		}
		if tok <= last {
			t.Fatalf("token %d after %d", tok, last)
		}
		last = tok
		if err := fs.Save(context.Background(), "r1", tok, []byte("s")); err != nil {
			t.Fatal(err)
		}
		fs.Release(context.Background(), "r1", tok)
	}
}

func TestFileStoreRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	mine := filepath.Join(dir, ".r1.123456.tmp")
	other := filepath.Join(dir, ".r1.b.654321.tmp") // rollout "r1.b"
	for _, p := range []string{mine, other} {
		if err := os.WriteFile(p, []byte("half a state"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs := &rollout.FileStore{Dir: dir}
	if _, _, err := fs.Load(context.Background(), "r1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mine); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the interrupted save's temp file is still there (%v)", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another rollout's temp file was removed: %v", err)
	}
}
