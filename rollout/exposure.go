package rollout

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/traffic"
	"github.com/shepherd-go/shepherd/wave"
)

// StepExposure moves the stage's traffic to the new version by share,
// through the [traffic.Router] ([Config.Router]), per
// [ExposurePolicy.Schedule]: weights, holds, and the bake, judge and
// verify gates between them. Place it after [StepDeploy].
const StepExposure StepKind = "exposure"

// ExposureSteps is a stage pipeline with exposure: the stage's targets
// (the new version's set) are deployed, then its traffic ramps per the
// schedule, then the stage bakes at 100% and is judged.
var ExposureSteps = []StepKind{StepBlockers, StepApproval, StepDeploy, StepExposure, StepBake, StepJudge}

// SignalExposure: the router could not set, or confirm, a scope's route
// after the retries of [Policy.Rollback] (a route change is retried like a
// rollback: it is the fastest way back).
const SignalExposure Signal = "exposure"

// ActionRoute: ask the [traffic.Router] for Route ([RouteChange]): set a
// scope's split (then read it back to confirm), read it, set its matches
// or mirroring, or retire the previous version's set. Answer with
// [ObserveRoute].
const ActionRoute ActionKind = "route"

// ObsRoute answers an [ActionRoute].
const ObsRoute ObservationKind = "route"

// ControlPromote ends a stage's exposure hold that waits for a human
// ([traffic.HoldForApproval]): Argo Rollouts' promote, Cloud Deploy's
// advance.
const ControlPromote ControlKind = "promote"

// EventExposure: a scope's share changed (Share, with the blast radius so
// far in Blast), or a match, a mirror or a retirement took effect (Reason).
const EventExposure EventKind = "exposure"

// ExposurePolicy governs the [StepExposure] step.
type ExposurePolicy struct {
	// Stages are patterns ([path.Match] syntax) of the names of the
	// stages that ramp their traffic. Empty means every stage.
	Stages []string `json:"stages,omitempty"`
	// Schedule is the ramp of every stage that ramps. It must be valid
	// ([traffic.Schedule.Validate]) when the pipeline has the step.
	Schedule traffic.Schedule `json:"schedule,omitzero"`
}

// RouteOp is what an [ActionRoute] asks the router.
type RouteOp string

// The route operations.
const (
	RouteSet    RouteOp = "set"    // SetRoute, then Route to confirm
	RouteRead   RouteOp = "read"   // Route
	RouteMatch  RouteOp = "match"  // traffic.Matcher's SetMatch
	RouteMirror RouteOp = "mirror" // traffic.Mirrorer's SetMirror
	RouteRetire RouteOp = "retire" // traffic.Retirer's Retire of Route.Stable
)

// RouteChange is the request of an [ActionRoute].
type RouteChange struct {
	// Op says what to do; Scope where (the stage's name).
	Op    RouteOp `json:"op"`
	Scope string  `json:"scope"`
	// Route is the split to set (Op set), whose Canary is the version
	// matched or mirrored and whose Stable is the version retired.
	Route traffic.Route `json:"route"`
	// Match lists the requests to route to Route.Canary (Op match).
	Match []traffic.Match `json:"match,omitempty"`
	// Mirror is the share to mirror (Op mirror).
	Mirror float64 `json:"mirror,omitempty"`
}

// ExposureState is a stage's record of its exposure step.
type ExposureState struct {
	// Scope is the router's scope (the stage's name); Stable the version
	// the scope served before (what a rollback switches back to).
	Scope  string `json:"scope"`
	Stable string `json:"stable"`
	// Pos is the position of the schedule step in progress, Kind its
	// kind, Started when it began.
	Pos     int              `json:"pos"`
	Kind    traffic.StepKind `json:"kind,omitempty"`
	Started time.Time        `json:"started"`
	// Until is the hold's Until ("approval") while a hold waits for a
	// human.
	Until string `json:"until,omitempty"`
	// Gate is set while a gate of the schedule (bake, judge, verify) runs.
	Gate StepKind `json:"gate,omitempty"`
	// Asking is the route operation issued and not answered yet: after a
	// restart, the route is read back before it is asked again.
	Asking RouteOp `json:"asking,omitempty"`
	// Reread asks for the route to be read back (set by a restart), and
	// Reading is set while that read is out.
	Reread  bool `json:"reread,omitempty"`
	Reading bool `json:"reading,omitempty"`
	// Promoted is the approval of the hold in progress.
	Promoted *AuditEntry `json:"promoted,omitempty"`
	// Retired is set once the previous version's set was retired: a
	// rollback can no longer switch back, and redeploys instead.
	Retired bool `json:"retired,omitempty"`
	// Zeroing is set while a rollback sets the share back to 0, Zeroed
	// once it is (or gave up: Failed names the scope).
	Zeroing bool `json:"zeroing,omitempty"`
	Zeroed  bool `json:"zeroed,omitempty"`
	// Account is the new version's share of the scope's traffic over time.
	Account traffic.Exposure `json:"account"`
}

// ScopeExposure is one scope's exposure in a [Progress].
type ScopeExposure struct {
	// Stage is the stage, Scope the router's scope.
	Stage, Scope string
	// Percent is the new version's share now, Step the schedule step in
	// progress ("" once the stage is past its exposure).
	Percent float64
	Step    string
	// Blast is the account so far.
	Blast traffic.Blast
}

// Explain describes the ramp of the stages that ramp: the schedule, then
// the share each step reaches and when ([traffic.Schedule.Explain]).
func (p ExposurePolicy) Explain() string {
	who := "every stage"
	if len(p.Stages) > 0 {
		who = fmt.Sprintf("stages matching %q", p.Stages)
	}
	return fmt.Sprintf("%s ramps its traffic: %s\n%s", who, p.Schedule, p.Schedule.Explain())
}

func (p ExposurePolicy) applies(stage string) bool {
	return len(p.Stages) == 0 || matches(p.Stages, stage)
}

func (p ExposurePolicy) validate(ps *problems, prefix string, steps []StepKind) {
	for i, pat := range p.Stages {
		if pat == "" {
			ps.add(fmt.Sprintf("%s.Stages[%d]", prefix, i), "empty pattern")
		} else if _, err := path.Match(pat, ""); err != nil {
			ps.add(fmt.Sprintf("%s.Stages[%d]", prefix, i), "bad pattern %q: %v", pat, err)
		}
	}
	has := false
	for _, k := range steps {
		has = has || k == StepExposure
	}
	if has || len(p.Schedule.Steps) > 0 {
		ps.merge(prefix+".Schedule", p.Schedule.Validate())
	}
	if len(p.Schedule.Steps) > 0 && !has {
		ps.add(prefix+".Schedule", "a schedule, but no %q step in policy.Steps: it would never run (see ExposureSteps)", StepExposure)
	}
}

// ObserveRoute answers an [ActionRoute] with the route read back.
func ObserveRoute(a Action, r traffic.Route, err error) Observation {
	o := Observation{Kind: ObsRoute, Round: a.Round, Route: &r}
	if a.Route != nil {
		o.Scope = a.Route.Scope
	}
	if err != nil {
		o.Err = err.Error()
		o.Permanent = IsPermanent(err)
	}
	return o
}

// RouteTolerance is how far, in percentage points, the share a router
// reads back may be from the share set: routers round (a load balancer's
// integer weights), but a bigger gap means the route did not take.
const RouteTolerance = 0.5

// route performs an ActionRoute through h.Router.
func (h *Hands) route(ctx context.Context, a *Action, o *Observation) error {
	rc := a.Route
	fail := func(err error) error {
		*o = ObserveRoute(*a, traffic.Route{}, err)
		return err
	}
	if rc == nil {
		return fail(Permanent(errors.New("a route action without a route change")))
	}
	if h.Router == nil {
		return fail(Permanent(errors.New("no router is configured")))
	}
	switch rc.Op {
	case RouteSet:
		if err := h.Router.SetRoute(ctx, rc.Scope, rc.Route); err != nil {
			return fail(err)
		}
		got, err := h.Router.Route(ctx, rc.Scope)
		if err != nil {
			return fail(fmt.Errorf("reading the route back: %w", err))
		}
		*o = ObserveRoute(*a, got, nil)
		if math.Abs(got.Percent-rc.Route.Percent) > RouteTolerance || (rc.Route.Percent > 0 && got.Canary != rc.Route.Canary) {
			err := fmt.Errorf("scope %s routes %g%% to %q after setting %g%% to %q", rc.Scope, got.Percent, got.Canary, rc.Route.Percent, rc.Route.Canary)
			o.Err = err.Error()
			return err
		}
		return nil
	case RouteRead:
		got, err := h.Router.Route(ctx, rc.Scope)
		*o = ObserveRoute(*a, got, err)
		return err
	case RouteMatch:
		m, ok := h.Router.(traffic.Matcher)
		if !ok {
			return fail(Permanent(errors.New("the router cannot match requests (it is no traffic.Matcher)")))
		}
		if err := m.SetMatch(ctx, rc.Scope, rc.Route.Canary, rc.Match); err != nil {
			return fail(err)
		}
	case RouteMirror:
		m, ok := h.Router.(traffic.Mirrorer)
		if !ok {
			return fail(Permanent(errors.New("the router cannot mirror (it is no traffic.Mirrorer)")))
		}
		if err := m.SetMirror(ctx, rc.Scope, rc.Route.Canary, rc.Mirror); err != nil {
			return fail(err)
		}
	case RouteRetire:
		rt, ok := h.Router.(traffic.Retirer)
		if !ok {
			return fail(Permanent(errors.New("the router cannot retire a set (it is no traffic.Retirer)")))
		}
		if err := rt.Retire(ctx, rc.Scope, rc.Route.Stable); err != nil {
			return fail(err)
		}
	default:
		return fail(Permanent(fmt.Errorf("unknown route operation %q", rc.Op)))
	}
	got, err := h.Router.Route(ctx, rc.Scope)
	*o = ObserveRoute(*a, got, err)
	return err
}

// checkRoute reports what no router may answer: a share that is not a
// number in [0, 100].
func checkRoute(bad func(string, ...any), o Observation) {
	if r := o.Route; r != nil && !(r.Percent >= 0 && r.Percent <= 100) {
		bad("the route's share is %v, not a percentage", r.Percent)
	}
}

// Promote ends the exposure hold of stage that waits for a human
// ([traffic.HoldForApproval]).
func (r *Runner) Promote(ctx context.Context, stage, actor string) error {
	return r.Request(ctx, Control{Kind: ControlPromote, Stage: stage, Actor: actor})
}

// promoteControl applies a promote request to stage si; it returns why it
// was ignored, or "".
func (s *State) promoteControl(si int, e *AuditEntry, out *Output, now time.Time) string {
	st := &s.Stages[si]
	x := st.Exposure
	switch {
	case st.Step != StepExposure || x == nil:
		return "the stage is not in its exposure"
	case x.Kind != traffic.KindHold || x.Gate != "":
		return "the stage's exposure does not wait for a promotion"
	case x.Promoted != nil:
		return "already promoted"
	}
	x.Promoted = e
	s.stageEvent(out, now, si, Event{Kind: EventApproved, Actor: e.Actor, Reason: "exposure promoted"})
	return ""
}

// exposureBlast sums the accounts of every scope at now.
func (s *State) exposureBlast(now time.Time) (traffic.Blast, bool) {
	var b traffic.Blast
	exposed := false
	for i := range s.Stages {
		if x := s.Stages[i].Exposure; x != nil {
			b = b.Add(x.Account.Blast(now))
			exposed = true
		}
	}
	return b, exposed
}

// exposures lists every scope's exposure, for Progress.
func (s *State) exposures() []ScopeExposure {
	var out []ScopeExposure
	for i := range s.Stages {
		st := &s.Stages[i]
		x := st.Exposure
		if x == nil {
			continue
		}
		e := ScopeExposure{Stage: st.Name, Scope: x.Scope, Percent: x.Account.Percent, Blast: x.Account.Blast(s.Updated)}
		if st.Step == StepExposure && x.Pos < len(s.Policy.Exposure.Schedule.Steps) {
			e.Step = s.Policy.Exposure.Schedule.Steps[x.Pos].String()
		}
		out = append(out, e)
	}
	return out
}

// unexpose is the first part of a rollback: every scope whose share may
// be above 0 is set back to 0, all at once, before any target is touched
// (the fastest safe action). It returns true while route changes are out.
func (s *State) unexpose(now time.Time, out *Output) bool {
	rb := s.Rollback
	for o := s.inbox.take(ObsRoute); o != nil; o = s.inbox.take(ObsRoute) {
		for i := range s.Stages {
			x := s.Stages[i].Exposure
			if x == nil || x.Scope != o.Scope || !x.Zeroing {
				continue
			}
			x.Zeroing, x.Zeroed, x.Asking, x.Reading = false, true, "", false
			out.Persist = true
			if o.Err != "" {
				rb.Failed = append(rb.Failed, "route:"+x.Scope)
				s.stageEvent(out, now, i, Event{Kind: EventExposure, Reason: fmt.Sprintf("could not set scope %s back to 0%%: %s", x.Scope, o.Err)})
				continue
			}
			got := 0.0
			if o.Route != nil {
				got = o.Route.Percent
			}
			x.Account.Set(now, got)
			b := x.Account.Blast(now)
			zero := got
			s.stageEvent(out, now, i, Event{Kind: EventExposure, Share: &zero, Blast: &b,
				Reason: fmt.Sprintf("scope %s back to %s for the rollback; %s", x.Scope, fmtPct(got), b)})
		}
	}
	var acts []Action
	for i := range s.Stages {
		x := s.Stages[i].Exposure
		if x == nil || x.Zeroed || x.Retired {
			continue
		}
		if !x.Zeroing && x.Account.Percent == 0 && x.Asking != RouteSet {
			continue // never exposed, or already back: nothing to switch
		}
		x.Zeroing = true
		acts = append(acts, s.routeAction(i, RouteChange{Op: RouteSet, Route: traffic.Route{Stable: x.Stable, Canary: s.Version, Percent: 0}}))
	}
	if len(acts) == 0 {
		return false
	}
	s.emitGates(out, acts...)
	out.Persist = true
	return true
}

func (s *State) routeAction(si int, rc RouteChange) Action {
	x := s.Stages[si].Exposure
	rc.Scope = x.Scope
	a := s.gateAction(ActionRoute, si)
	a.Route = &rc
	return a
}

// rereadExposure asks the stage in progress, after a restart, to read its
// route back before it goes on.
func (s *State) rereadExposure() {
	if st := s.current(); st != nil && st.Step == StepExposure && st.Exposure != nil {
		st.Exposure.Reread = true
	}
}

// inBake reports whether the stage runs a bake: its bake step, or a bake
// gate of its exposure.
func inBake(st *StageState) bool {
	return st.Step == StepBake || (st.Step == StepExposure && st.Exposure != nil && st.Exposure.Gate == StepBake)
}

// bakeTime is how long stage si bakes at least: the plan's, or the
// duration of the exposure's bake gate in progress when it gives one.
func (s *State) bakeTime(si int) time.Duration {
	st := &s.Stages[si]
	if x := st.Exposure; st.Step == StepExposure && x != nil && x.Gate == StepBake {
		if steps := s.Policy.Exposure.Schedule.Steps; x.Pos < len(steps) && steps[x.Pos].Duration > 0 {
			return steps[x.Pos].Duration.Std()
		}
	}
	return s.ix.stages[si].Bake.Std()
}

func fmtPct(p float64) string { return fmt.Sprintf("%g%%", p) }

// Explain prints plan as [wave.Plan.Explain] does, with each stage's
// pipeline under it and, for a stage that ramps its traffic, the shares it
// goes through and when: the whole rollout, placement and exposure, as a
// reviewer reads it.
func (p Policy) Explain(plan *wave.Plan) string {
	steps := p.Steps
	if len(steps) == 0 {
		steps = DefaultSteps
	}
	return plan.ExplainWith(func(st *wave.Stage) string {
		var b strings.Builder
		names := make([]string, len(steps))
		for i, k := range steps {
			names[i] = string(k)
		}
		fmt.Fprintf(&b, "steps: %s\n", strings.Join(names, " > "))
		if slices.Contains(steps, StepExposure) && p.Exposure.applies(st.Name) {
			fmt.Fprintf(&b, "traffic: %s\n", p.Exposure.Schedule)
			for _, line := range strings.Split(strings.TrimRight(p.Exposure.Schedule.Explain(), "\n"), "\n") {
				fmt.Fprintf(&b, "  %s\n", line)
			}
		}
		return b.String()
	})
}
