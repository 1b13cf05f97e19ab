package fleetwide

import (
	"errors"
	"fmt"
	"time"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/field"
	"github.com/shepherd-go/shepherd/rollout"
)

// ErrInvalid is wrapped by every validation problem of this package: a
// group, a member or a request is malformed. Nothing was touched.
var ErrInvalid = errors.New("fleetwide: invalid input")

// Actor is the actor of the control requests the group sends its members,
// as their audit logs record it.
const Actor = "shepherd/fleetwide"

// Defaults of [HealthPolicy].
const (
	DefaultHealthInterval = time.Minute
	DefaultWindow         = 3 * time.Hour
	DefaultRecency        = 10 * time.Minute
	DefaultPatience       = 2 * time.Hour
	DefaultMargin         = 3.0
	DefaultMaxUnreadable  = 3
	DefaultDetection      = 3 * time.Minute
	DefaultNoise          = 2.0
)

// Spec is a group of rollouts: plain data, saved with its state.
type Spec struct {
	// ID names the group in its store and its events.
	ID string `json:"id"`
	// Members are the rollouts of the group, each with its own plan and
	// policy.
	Members []Member `json:"members"`
	// Policy is how the group coordinates them.
	Policy Policy `json:"policy,omitzero"`
}

// Member is one rollout of a group.
type Member struct {
	// Name names the member in the group ("payments", "search-config").
	Name string `json:"name"`
	// Team owns the member; [RollbackTeam] rolls back a team's members
	// together.
	Team string `json:"team,omitempty"`
	// Rollout is what the member deploys: its ID, plan, version and
	// policy. Its policy's stage pipeline must start with
	// [rollout.StepBlockers] (the default does): that is where the group
	// holds a stage.
	Rollout rollout.Spec `json:"rollout"`
	// After lists the members this one waits for.
	After []Dependency `json:"after,omitempty"`
	// Start, if set, is the earliest time the member starts: its slot on
	// a release train.
	Start time.Time `json:"start,omitzero"`
	// Drain says that the member's traffic in a scope can be sent back to
	// the version it replaces and forth again, by its [Drainer] in
	// [Config.Drainers]: the group then tests it when a shared alarm
	// suspects it (see [Trial]) rather than judge it by timing alone.
	Drain bool `json:"drain,omitempty"`
}

// DependencyKind says what a member waits for.
type DependencyKind string

const (
	// AfterSuccess: the member starts only once the other has succeeded.
	// If the other rolls back, the member never starts (or, started,
	// rolls back too): it depends on a change that is gone.
	AfterSuccess DependencyKind = "success"
	// AfterWave: the member's stages of wave k start only once the other
	// has promoted every stage of its waves up to k (or has succeeded).
	AfterWave DependencyKind = "wave"
)

// Dependency is one member waiting for another.
type Dependency struct {
	// Member is the name of the member waited for.
	Member string `json:"member"`
	// Kind is what is waited for. Empty means [AfterSuccess].
	Kind DependencyKind `json:"kind,omitempty"`
}

// RollbackMode says what else rolls back when a member does.
type RollbackMode string

const (
	// RollbackMember (the zero value): a member that stops rolls back
	// alone, and the members that depend on it stop too.
	RollbackMember RollbackMode = ""
	// RollbackAtomic: any member that rolls back rolls back the whole
	// group, dependents before what they depend on. Members reaching the
	// end of their last bake wait there for the others, paused, so that
	// none is out of reach (a succeeded rollout cannot be rolled back):
	// give every member a bake after its last stage.
	RollbackAtomic RollbackMode = "atomic"
	// RollbackTeam: the culprit of a regional alarm rolls back with every
	// member of its team that touched the alarm's region.
	RollbackTeam RollbackMode = "team"
)

// Policy is how a group coordinates its members. Its zero value runs the
// members independently, in dependency order.
type Policy struct {
	// Lockstep promotes the group wave by wave together: no member starts
	// a stage of wave k before every started member has promoted all its
	// stages of waves below k.
	Lockstep bool `json:"lockstep,omitempty"`
	// Rollback says what else rolls back when a member does.
	Rollback RollbackMode `json:"rollback,omitempty"`
	// Health is the shared regional health.
	Health HealthPolicy `json:"health,omitzero"`
}

// Scope is an alarm that belongs to no member, scoped to a region or to a
// zone of a region: the region's customer-facing error rate, a zone's load
// balancer faults.
type Scope struct {
	// Alarm names the alarm; the [Health] gate reports it by this name.
	Alarm string `json:"alarm"`
	// Region is the region the alarm watches.
	Region string `json:"region"`
	// Zone, if set, narrows the alarm to one zone of Region.
	Zone string `json:"zone,omitempty"`
}

// String names the scope's place: the zone, or the region.
func (s Scope) String() string {
	if s.Zone != "" {
		return s.Zone
	}
	return s.Region
}

// HealthPolicy governs the shared regional health.
type HealthPolicy struct {
	// Scopes are the shared alarms. Empty: no shared health is watched.
	Scopes []Scope `json:"scopes,omitempty"`
	// Interval is the time between checks. Zero means 1 minute.
	Interval duration.Duration `json:"interval,omitzero"`
	// Window is how long before an alarm's onset a change may have
	// reached its scope and still be suspected. Zero means 3 hours.
	Window duration.Duration `json:"window,omitzero"`
	// Recency is the mean time most faults take to show after their
	// change lands (see [Rank]): suspicion of a change fades with the
	// time between its reaching a scope and the onset. Zero means 10
	// minutes.
	Recency duration.Duration `json:"recency,omitzero"`
	// Detection is the least time a shared alarm takes to fire once a
	// fault starts: its period times its datapoints to alarm (3 of 5
	// one-minute points: 3 minutes). A change that landed less than this
	// before an onset can hardly have caused it. Zero means 3 minutes.
	Detection duration.Duration `json:"detection,omitzero"`
	// Patience is how long the group waits for the evidence to single out
	// a culprit (meanwhile the likeliest suspect is paused and the others
	// go on outside the scope, see [Judge]) before it stops the likeliest
	// one, if it is Margin times likelier than noise. Zero means 2 hours.
	Patience duration.Duration `json:"patience,omitzero"`
	// Margin is how many times likelier than both the runner-up and
	// noise the top suspect must be to be stopped at once. Zero means 3.
	Margin float64 `json:"margin,omitzero"`
	// Noise is how likely an alarm is to be nobody's change (regional
	// noise, another team's change), relative to a fault that shows long
	// after its change landed. Higher values make the group slower to
	// blame by timing and wrong less often. Zero means 2.
	Noise float64 `json:"noise,omitzero"`
	// MaxUnreadable is how many checks in a row a scope may go unread
	// (an error, or INSUFFICIENT_DATA) before its new stages are blocked:
	// missing evidence is not good evidence. Zero means 3.
	MaxUnreadable int `json:"maxUnreadable,omitzero"`
}

func (h HealthPolicy) interval() time.Duration  { return or(h.Interval, DefaultHealthInterval) }
func (h HealthPolicy) window() time.Duration    { return or(h.Window, DefaultWindow) }
func (h HealthPolicy) recency() time.Duration   { return or(h.Recency, DefaultRecency) }
func (h HealthPolicy) detection() time.Duration { return or(h.Detection, DefaultDetection) }
func (h HealthPolicy) patience() time.Duration  { return or(h.Patience, DefaultPatience) }
func (h HealthPolicy) margin() float64 {
	if h.Margin == 0 {
		return DefaultMargin
	}
	return h.Margin
}
func (h HealthPolicy) noise() float64 {
	if h.Noise == 0 {
		return DefaultNoise
	}
	return h.Noise
}

func (h HealthPolicy) maxUnreadable() int {
	if h.MaxUnreadable == 0 {
		return DefaultMaxUnreadable
	}
	return h.MaxUnreadable
}

func or(d duration.Duration, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}

// Validate reports every problem of the spec, each a *[field.Error] with
// its field path, joined; the error wraps [ErrInvalid]. A member's own
// problems are rollout's (they wrap [rollout.ErrInvalid]), under
// "members[i]".
func (s Spec) Validate() error {
	var l field.List
	if s.ID == "" {
		l.Add(ErrInvalid, "id", "empty")
	}
	if len(s.Members) == 0 {
		l.Add(ErrInvalid, "members", "no member")
	}
	names := map[string]int{}
	ids := map[string]bool{}
	for i, m := range s.Members {
		p := fmt.Sprintf("members[%d]", i)
		if m.Name == "" {
			l.Add(ErrInvalid, p+".name", "empty")
		} else if _, dup := names[m.Name]; dup {
			l.Add(ErrInvalid, p+".name", "%q is used twice", m.Name)
		}
		names[m.Name] = i
		if ids[m.Rollout.ID] {
			l.Add(ErrInvalid, p+".rollout.ID", "%q is used twice", m.Rollout.ID)
		}
		ids[m.Rollout.ID] = true
		if _, err := rollout.NewState(m.Rollout.ID, m.Rollout.Plan, m.Rollout.Version, m.Rollout.Policy, time.Time{}); err != nil {
			l.Merge(field.Prefix(p, err))
		}
		if steps := m.Rollout.Policy.Steps; len(steps) > 0 && steps[0] != rollout.StepBlockers {
			l.Add(ErrInvalid, p+".rollout.Policy.Steps", "starts with %q: the group holds a stage at its blockers step, which must come first", steps[0])
		}
	}
	for i, m := range s.Members {
		for j, d := range m.After {
			p := fmt.Sprintf("members[%d].after[%d]", i, j)
			if _, ok := names[d.Member]; !ok {
				l.Add(ErrInvalid, p+".member", "no member named %q", d.Member)
			} else if d.Member == m.Name {
				l.Add(ErrInvalid, p+".member", "%q waits for itself", d.Member)
			}
			if d.Kind != "" && d.Kind != AfterSuccess && d.Kind != AfterWave {
				l.Add(ErrInvalid, p+".kind", "unknown kind %q (want %q or %q)", d.Kind, AfterSuccess, AfterWave)
			}
		}
	}
	if l.Len() == 0 {
		if _, err := order(s.Members); err != nil {
			l.Add(ErrInvalid, "members", "%v", err)
		}
	}
	switch s.Policy.Rollback {
	case RollbackMember, RollbackAtomic, RollbackTeam:
	default:
		l.Add(ErrInvalid, "policy.rollback", "unknown mode %q", s.Policy.Rollback)
	}
	h := s.Policy.Health
	for _, d := range []struct {
		name string
		v    duration.Duration
	}{{"interval", h.Interval}, {"window", h.Window}, {"recency", h.Recency}, {"patience", h.Patience}, {"detection", h.Detection}} {
		if d.v < 0 {
			l.Add(ErrInvalid, "policy.health."+d.name, "%v is negative", d.v)
		}
	}
	if h.Window > duration.Duration(7*24*time.Hour) {
		l.Add(ErrInvalid, "policy.health.window", "%v is longer than 7 days: no fault is traced back that far", h.Window)
	}
	if h.Margin < 0 || h.Margin != h.Margin || (h.Margin > 0 && h.Margin < 1) {
		l.Add(ErrInvalid, "policy.health.margin", "%v: want 0 (the default) or at least 1", h.Margin)
	}
	if h.Noise < 0 || h.Noise != h.Noise || h.Noise > 1e6 {
		l.Add(ErrInvalid, "policy.health.noise", "%v: want 0 (the default) or a positive weight", h.Noise)
	}
	if h.MaxUnreadable < 0 {
		l.Add(ErrInvalid, "policy.health.maxUnreadable", "%d is negative", h.MaxUnreadable)
	}
	alarms := map[string]bool{}
	for i, sc := range h.Scopes {
		p := fmt.Sprintf("policy.health.scopes[%d]", i)
		if sc.Alarm == "" {
			l.Add(ErrInvalid, p+".alarm", "empty")
		} else if alarms[sc.Alarm] {
			l.Add(ErrInvalid, p+".alarm", "%q is used twice", sc.Alarm)
		}
		alarms[sc.Alarm] = true
		if sc.Region == "" {
			l.Add(ErrInvalid, p+".region", "empty")
		}
	}
	return l.Err()
}

// order returns the members' indexes in dependency order (a member after
// every member it waits for, otherwise in the spec's order), or an error
// naming a cycle.
func order(ms []Member) ([]int, error) {
	idx := map[string]int{}
	for i, m := range ms {
		idx[m.Name] = i
	}
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(ms))
	var out []int
	var visit func(i int, path []string) error
	visit = func(i int, path []string) error {
		switch color[i] {
		case black:
			return nil
		case grey:
			return fmt.Errorf("dependency cycle %v", append(path, ms[i].Name))
		}
		color[i] = grey
		for _, d := range ms[i].After {
			if j, ok := idx[d.Member]; ok {
				if err := visit(j, append(path, ms[i].Name)); err != nil {
					return err
				}
			}
		}
		color[i] = black
		out = append(out, i)
		return nil
	}
	for i := range ms {
		if err := visit(i, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}
