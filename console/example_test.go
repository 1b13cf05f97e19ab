package console_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/console"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/wave"
)

// A console mounted under /deploys/ of a team's server, over a rollout
// whose one-box waits for an approval. Only members of the release team
// may approve: a request from anyone else is refused with 403 and
// audited; the release manager's goes through.
func Example() {
	fleet := []wave.Target{
		{ID: "eu-1", Location: []string{"eu", "eu-a"}}, {ID: "eu-2", Location: []string{"eu", "eu-a"}},
	}
	none := duration.None
	plan, _ := wave.Policy{OneBox: wave.OneBoxRule{MaxFraction: 0.5},
		Bake: wave.BakeSchedule{OneBox: none, Zone: none, FirstWave: none, LaterWaves: none, Final: none}}.Plan(fleet)

	con := console.New(console.Config{
		// Who asks: here a header set by the team's authenticating proxy.
		Actor: func(r *http.Request) (string, error) {
			if u := r.Header.Get("X-Forwarded-User"); u != "" {
				return u, nil
			}
			return "", errors.New("not signed in")
		},
		Audit: func(e console.AuditEntry) {
			fmt.Printf("audit: %s %s %s: %d\n", e.Actor, e.Kind, e.Stage, e.Status)
		},
	})
	view := con.Track("checkout-v2", plan)
	r, _ := rollout.Create(context.Background(), rollout.Spec{
		ID: "checkout-v2", Plan: *plan, Version: "v2",
		Policy: rollout.Policy{Approvals: []string{"*/one-box/*"}},
	}, &hosts{}, rollout.Config{
		OnEvent: view.Event,
		Authorize: func(ctx context.Context, c rollout.Control) error {
			if c.Actor != "release-manager" {
				return errors.New("only the release team approves")
			}
			return nil
		},
	})
	view.Attach(r)
	done := make(chan error)
	go func() { done <- r.Run(context.Background()) }()
	for !r.Progress().AwaitingApproval {
		time.Sleep(time.Millisecond) // a real tool would not poll: the console's page is live
	}

	mux := http.NewServeMux()
	mux.Handle("/deploys/", http.StripPrefix("/deploys", con))
	approve := func(user string) {
		req := httptest.NewRequest("POST", "/deploys/r/checkout-v2/control",
			strings.NewReader(`{"kind": "approve", "stage": "w1/one-box/eu"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-User", user)
		mux.ServeHTTP(httptest.NewRecorder(), req)
	}
	approve("intern")
	approve("release-manager")
	fmt.Println(<-done, r.Progress().Phase)
	// Output:
	// audit: intern approve w1/one-box/eu: 403
	// audit: release-manager approve w1/one-box/eu: 200
	// <nil> succeeded
}
