package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollout/pgstore"
)

// A replica of a deploy tool takes over the rollouts that are still
// running and whose driver is gone: Open fails with ErrLocked for those
// another replica drives, and succeeds for those whose lease expired.
// (It needs a PostgreSQL, so it is compiled but not run.)
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store, err := pgstore.New(ctx, pool, pgstore.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	running, err := store.List(ctx, rollout.Running)
	if err != nil {
		log.Fatal(err)
	}
	var d rollout.Deployer // the tool's own
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, in := range running {
		r, err := rollout.Open(ctx, in.ID, d, rollout.Config{Store: store})
		if errors.Is(err, rollout.ErrLocked) {
			continue // another replica drives it
		}
		if err != nil {
			log.Print(err)
			continue
		}
		wg.Go(func() { fmt.Println(in.ID, r.Run(ctx)) })
	}
}
