package temporal

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdktemporal "go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// The search attributes a rollout workflow keeps up to date when
// [Settings.SearchAttributes] is set, so that an operator can list the
// rollouts that need a human, e.g. with the query
// `ShepherdAwaitingApproval = true OR ShepherdPaused = true`. Register
// them on the namespace once with [RegisterSearchAttributes].
var (
	// AttrPhase is the rollout's phase (running, rolling-back,
	// succeeded...).
	AttrPhase = sdktemporal.NewSearchAttributeKeyKeyword("ShepherdPhase")
	// AttrStage is the stage in progress.
	AttrStage = sdktemporal.NewSearchAttributeKeyKeyword("ShepherdStage")
	// AttrAwaitingApproval is set while a stage waits for its approval.
	AttrAwaitingApproval = sdktemporal.NewSearchAttributeKeyBool("ShepherdAwaitingApproval")
	// AttrPaused is set while the rollout is paused or held.
	AttrPaused = sdktemporal.NewSearchAttributeKeyBool("ShepherdPaused")
)

// RegisterSearchAttributes registers the search attributes of
// [Settings.SearchAttributes] on namespace; those already registered are
// left as they are.
func RegisterSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	attrs := map[string]enumspb.IndexedValueType{
		AttrPhase.GetName():            enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		AttrStage.GetName():            enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		AttrAwaitingApproval.GetName(): enumspb.INDEXED_VALUE_TYPE_BOOL,
		AttrPaused.GetName():           enumspb.INDEXED_VALUE_TYPE_BOOL,
	}
	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("temporal: list search attributes: %w", err)
	}
	for name := range list.GetCustomAttributes() {
		delete(attrs, name)
	}
	if len(attrs) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{SearchAttributes: attrs, Namespace: namespace})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("temporal: add search attributes: %w", err)
	}
	return nil
}

// searchState is what the search attributes show.
type searchState struct {
	phase, stage     string
	approval, paused bool
}

// upsertSearch updates the search attributes when what they show changed
// (an upsert is a history event: not one per step).
func (r *run) upsertSearch(ctx workflow.Context) {
	if !r.set.SearchAttributes {
		return
	}
	p := r.st.Progress()
	s := searchState{phase: string(p.Phase), stage: p.Stage, approval: p.AwaitingApproval, paused: p.Paused || p.Hold != nil}
	if r.search != nil && *r.search == s {
		return
	}
	r.search = &s
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		AttrPhase.ValueSet(s.phase), AttrStage.ValueSet(s.stage),
		AttrAwaitingApproval.ValueSet(s.approval), AttrPaused.ValueSet(s.paused),
	); err != nil {
		workflow.GetLogger(ctx).Warn("shepherd: search attributes not updated", "error", err)
	}
}
