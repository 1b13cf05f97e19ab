package rollouttest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
)

// unfenced is a store whose Save ignores the fencing token: a driver that
// lost its lease could overwrite its successor's state.
type unfenced struct{ *rollout.MemoryStore }

func (u unfenced) Save(_ context.Context, id string, _ uint64, data []byte) error {
	u.Put(id, data)
	return nil
}

// Checking a store of your own: TestStore runs every check and returns
// the failures, each a *CheckError naming its check (in a test, RunStore
// runs them as subtests).
func ExampleTestStore() {
	err := rollouttest.TestStore(context.Background(), rollouttest.StoreSuite{Store: new(rollout.MemoryStore)})
	fmt.Println("memory store:", err)

	err = rollouttest.TestStore(context.Background(), rollouttest.StoreSuite{Store: unfenced{new(rollout.MemoryStore)}})
	var ce *rollouttest.CheckError
	if errors.As(err, &ce) {
		fmt.Println("a store that does not fence fails:", ce.Check)
	}
	// Output:
	// memory store: <nil>
	// a store that does not fence fails: fenced
}
