package servertest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/temporal"
	"github.com/shepherd-go/shepherd/temporal/internal/testfleet"
)

// tokenKey holds a caller's credential in a context.
type tokenKey struct{}

// tokenPropagator carries the credential of a context in a header, from
// the client to the update's handler and on to the authorise activity.
type tokenPropagator struct{}

const tokenHeader = "shepherd-token"

func (tokenPropagator) Inject(ctx context.Context, w workflow.HeaderWriter) error {
	return injectToken(ctx.Value(tokenKey{}), w)
}

func (tokenPropagator) InjectFromWorkflow(ctx workflow.Context, w workflow.HeaderWriter) error {
	return injectToken(ctx.Value(tokenKey{}), w)
}

func injectToken(v any, w workflow.HeaderWriter) error {
	tok, ok := v.(string)
	if !ok {
		return nil
	}
	p, err := converter.GetDefaultDataConverter().ToPayload(tok)
	if err != nil {
		return err
	}
	w.Set(tokenHeader, p)
	return nil
}

func (tokenPropagator) Extract(ctx context.Context, r workflow.HeaderReader) (context.Context, error) {
	if p, ok := r.Get(tokenHeader); ok {
		var tok string
		if err := converter.GetDefaultDataConverter().FromPayload(p, &tok); err != nil {
			return ctx, err
		}
		ctx = context.WithValue(ctx, tokenKey{}, tok)
	}
	return ctx, nil
}

func (tokenPropagator) ExtractToWorkflow(ctx workflow.Context, r workflow.HeaderReader) (workflow.Context, error) {
	if p, ok := r.Get(tokenHeader); ok {
		var tok string
		if err := converter.GetDefaultDataConverter().FromPayload(p, &tok); err != nil {
			return ctx, err
		}
		ctx = workflow.WithValue(ctx, tokenKey{}, tok)
	}
	return ctx, nil
}

// TestCredentialsThroughAPropagator: the authoriser checks a credential
// the caller's context carries (through a context propagator on the
// client and the worker), not the actor name the caller writes: a request
// that names alice without her token is refused.
func TestCredentialsThroughAPropagator(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	const queue = "credentials"
	tc := ts.NewClientWithOptions(client.Options{ContextPropagators: []workflow.ContextPropagator{tokenPropagator{}}})
	plan := testfleet.ZonePlan(3, 2, 0, 0)
	f := testfleet.New(plan, "v1")
	tokens := map[string]string{"alice-secret": "alice"}
	w := worker.New(tc, queue, worker.Options{})
	temporal.Register(w, &temporal.Activities{
		Deployer: f.On("w"),
		Authorize: func(ctx context.Context, c rollout.Control) error {
			tok, _ := ctx.Value(tokenKey{}).(string)
			if who, ok := tokens[tok]; !ok || who != c.Actor {
				return errors.New("no valid credential for " + c.Actor)
			}
			return nil
		},
	})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	c := temporal.NewClient(tc, queue)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := c.Start(ctx, "creds", plan, "v2", rollout.Policy{Approvals: []string{"zone"}}, temporal.Settings{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, c, "creds", func(p rollout.Progress) bool { return p.AwaitingApproval })
	if err := c.Approve(ctx, "creds", "zone", "alice"); !errors.Is(err, rollout.ErrNotAuthorised) {
		t.Errorf("approval naming alice without her token = %v, want ErrNotAuthorised", err)
	}
	if err := c.Approve(context.WithValue(ctx, tokenKey{}, "alice-secret"), "creds", "zone", "alice"); err != nil {
		t.Errorf("alice's approval with her token = %v", err)
	}
	if _, err := c.Wait(ctx, "creds"); err != nil {
		t.Fatalf("Wait: %v", err)
	}
}
