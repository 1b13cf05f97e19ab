package rollouttest_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
)

func TestMemoryStoreConforms(t *testing.T) {
	s := new(rollout.MemoryStore)
	rollouttest.RunStore(t, rollouttest.StoreSuite{
		Store: s,
		Corrupt: func(id string) error {
			data := s.Get(id)
			data[len(data)/2] ^= 0x20
			s.Put(id, data)
			return nil
		},
	})
}

func TestFileStoreConforms(t *testing.T) {
	dir := t.TempDir()
	rollouttest.RunStore(t, rollouttest.StoreSuite{
		Store:   &rollout.FileStore{Dir: dir},
		Peer:    &rollout.FileStore{Dir: dir},
		Corrupt: func(id string) error { return flipFileByte(dir, id) },
	})
}

// flipFileByte damages the middle of the rollout's state file.
func flipFileByte(dir, id string) error {
	names, err := filepath.Glob(filepath.Join(dir, id+".*"))
	if err != nil {
		return err
	}
	for _, n := range names {
		if filepath.Ext(n) == ".lock" {
			continue
		}
		b, err := os.ReadFile(n)
		if err != nil {
			return err
		}
		b[len(b)/2] ^= 0x20
		return os.WriteFile(n, b, 0o644)
	}
	return os.ErrNotExist
}
