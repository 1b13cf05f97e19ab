package fleetwide

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/rollout"
)

// SchemaVersion is the version of the State layout this package writes.
const SchemaVersion = 1

// Phase is where a group is in its life.
type Phase string

const (
	// Running: some member has not ended.
	Running Phase = "running"
	// Succeeded: every member succeeded.
	Succeeded Phase = "succeeded"
	// Failed: every member ended, and some did not succeed.
	Failed Phase = "failed"
)

// Terminal reports whether the phase is final.
func (p Phase) Terminal() bool { return p == Succeeded || p == Failed }

// MemberStatus is where a member is.
type MemberStatus string

const (
	// MemberWaiting: not started (waiting for its dependencies, its train
	// slot, or a stopped line).
	MemberWaiting MemberStatus = "waiting"
	// MemberRunning: its rollout runs (it may be paused).
	MemberRunning MemberStatus = "running"
	// MemberSucceeded, MemberRolledBack and MemberRollbackFailed are the
	// rollout's final phases.
	MemberSucceeded      MemberStatus = "succeeded"
	MemberRolledBack     MemberStatus = "rolled-back"
	MemberRollbackFailed MemberStatus = "rollback-failed"
	// MemberCancelled: it never started, because what it depends on
	// failed or the group rolled back.
	MemberCancelled MemberStatus = "cancelled"
)

// Ended reports whether the member will do nothing more.
func (s MemberStatus) Ended() bool {
	return s != MemberWaiting && s != MemberRunning
}

// State is a group's whole persisted state: plain data, JSON-serialisable.
// Create it with [NewState]; advance it only with [State.Step].
type State struct {
	// Schema is the layout's version.
	Schema int `json:"schema"`
	// ID names the group; Policy is its policy, as given.
	ID     string `json:"id"`
	Policy Policy `json:"policy"`
	// Phase is where the group is in its life.
	Phase Phase `json:"phase"`
	// Created, Updated and Ended are when the group was created, last
	// stepped, and ended.
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	Ended   time.Time `json:"ended,omitzero"`
	// Members are the members, in the spec's order.
	Members []MemberState `json:"members"`
	// Line is set while the line is stopped.
	Line *Stop `json:"line,omitempty"`
	// Health is the watch of the shared alarms, one per scope of the
	// policy.
	Health Watch `json:"health"`
	// Incidents are the shared alarms that fired, in order.
	Incidents []Incident `json:"incidents,omitempty"`
	// Rollback is set once the whole group rolls back.
	Rollback *GroupRollback `json:"rollback,omitempty"`
	// Audit records the group's control requests.
	Audit []rollout.AuditEntry `json:"audit,omitempty"`
}

// MemberState is one member's record.
type MemberState struct {
	// Member is the member's spec.
	Member Member `json:"member"`
	// Status is where it is.
	Status MemberStatus `json:"status"`
	// Rollout is its rollout's state, from its start.
	Rollout *rollout.State `json:"rollout,omitempty"`
	// Wake is when its rollout asked to be stepped again.
	Wake time.Time `json:"wake,omitzero"`
	// Touches are the places its change reached, in order.
	Touches []Touch `json:"touches,omitempty"`
	// Holds say why the group holds it paused (the stopped line, a firing
	// alarm, an atomic group waiting); empty: the group does not.
	Holds []string `json:"holds,omitempty"`
	// Stopped says why the group stopped (aborted or cancelled) it.
	Stopped string `json:"stopped,omitempty"`
	// Started and Ended are when its rollout started and ended.
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`

	inbox []rollout.Observation
	loc   map[string][2]string
	due   bool
}

// Stop is a stopped line: who stopped it, why, since when.
type Stop struct {
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

// Watch is the record of the shared alarms.
type Watch struct {
	// Round numbers the health checks; Pending is set while one is out.
	Round   uint64 `json:"round"`
	Pending bool   `json:"pending,omitempty"`
	// Next is when the alarms are checked next.
	Next time.Time `json:"next,omitzero"`
	// Scopes holds one record per scope of the policy, in order.
	Scopes []ScopeState `json:"scopes,omitempty"`
}

// ScopeState is one shared alarm's record.
type ScopeState struct {
	Scope Scope `json:"scope"`
	// Firing is set while the alarm is in ALARM, since Since.
	Firing bool      `json:"firing,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	// Reason is the alarm's last reason.
	Reason string `json:"reason,omitempty"`
	// Unreadable counts the checks in a row that could not read it.
	Unreadable int `json:"unreadable,omitempty"`
	// Trial is the drain test under way in the scope, if any.
	Trial *Trial `json:"trial,omitempty"`

	sent bool // the trial's drain or restore is out (lost on a restart)
}

// Incident is a shared alarm that fired, and what the group made of it.
type Incident struct {
	// Scope is the alarm's; Onset when it was first seen in ALARM,
	// Cleared when it was seen OK again (zero while it fires).
	Scope   Scope     `json:"scope"`
	Onset   time.Time `json:"onset"`
	Cleared time.Time `json:"cleared,omitzero"`
	// Alarm is the alarm's reason at the onset.
	Alarm string `json:"alarm,omitempty"`
	// Suspects is the last ranking.
	Suspects []Suspect `json:"suspects,omitempty"`
	// Verdict is the decision, once made; Decided when, Culprit the
	// member stopped (empty with no suspect), Reason in plain words.
	Decided time.Time `json:"decided,omitzero"`
	Culprit string    `json:"culprit,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	// Waiting is set while the group waits for the evidence to single
	// out a culprit.
	Waiting bool `json:"waiting,omitempty"`
	// Exonerated names the members stopped as culprits whose rollback
	// did not clear the alarm: they are suspected no more, and the
	// incident is judged again without them.
	Exonerated []string `json:"exonerated,omitempty"`
	// Drained names the suspects whose traffic in the scope was drained
	// while the alarm kept firing: they are suspected much less.
	// Untestable names those whose drain failed.
	Drained    []string `json:"drained,omitempty"`
	Untestable []string `json:"untestable,omitempty"`
}

// GroupRollback is the record of the whole group rolling back.
type GroupRollback struct {
	// Reason says why; Started when.
	Reason  string    `json:"reason"`
	Started time.Time `json:"started"`
	// Order names the members to roll back, dependents first.
	Order []string `json:"order"`
}

// NewState validates the spec and returns the initial state of the group,
// created at now. Every problem is reported before anything is touched.
func NewState(s Spec, now time.Time) (*State, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	st := &State{Schema: SchemaVersion, ID: s.ID, Policy: s.Policy, Phase: Running, Created: now, Updated: now}
	for _, m := range s.Members {
		st.Members = append(st.Members, MemberState{Member: m, Status: MemberWaiting})
	}
	for _, sc := range s.Policy.Health.Scopes {
		st.Health.Scopes = append(st.Health.Scopes, ScopeState{Scope: sc})
	}
	return st, nil
}

// Spec returns the spec the state was made from.
func (s *State) Spec() Spec {
	sp := Spec{ID: s.ID, Policy: s.Policy}
	for _, m := range s.Members {
		sp.Members = append(sp.Members, m.Member)
	}
	return sp
}

// Member returns the record of the member named name, or nil.
func (s *State) Member(name string) *MemberState {
	for i := range s.Members {
		if s.Members[i].Member.Name == name {
			return &s.Members[i]
		}
	}
	return nil
}

// ErrCorrupt means a saved group state failed its checksum or could not be
// decoded.
var ErrCorrupt = errors.New("fleetwide: saved state is corrupt")

type envelope struct {
	Schema int             `json:"schema"`
	CRC    uint32          `json:"crc32c"`
	State  json.RawMessage `json:"state"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// EncodeState returns the saved form of s: JSON with the schema version
// and a CRC-32C checksum, which [DecodeState] verifies. A [rollout.Store]
// keeps it as it keeps a rollout's.
func EncodeState(s *State) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("fleetwide: encode: %w", err)
	}
	return json.Marshal(envelope{Schema: s.Schema, CRC: crc32.Checksum(b, castagnoli), State: b})
}

// DecodeState decodes and checks a saved group state. The state is ready
// to step after a [Restarted] observation.
func DecodeState(data []byte) (*State, error) {
	var e envelope
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if e.Schema != SchemaVersion {
		return nil, fmt.Errorf("%w: schema %d, this package writes %d", ErrCorrupt, e.Schema, SchemaVersion)
	}
	if crc32.Checksum(e.State, castagnoli) != e.CRC {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	var s State
	if err := json.Unmarshal(e.State, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return &s, nil
}

// ActionKind says what an [Action] asks the executor to do.
type ActionKind string

const (
	// ActionMember: perform Rollout, an action of member Member's
	// rollout, through the member's [rollout.Hands], and answer with
	// [ObserveMember].
	ActionMember ActionKind = "member"
	// ActionCheckHealth: evaluate the shared alarms of Scopes ([Health])
	// and answer with [ObserveHealth].
	ActionCheckHealth ActionKind = "check-health"
	// ActionDrain: drain (Drain true) or restore member Member's traffic
	// in Scopes[0] with the member's [Drainer], and answer with
	// [ObserveDrain].
	ActionDrain ActionKind = "drain"
)

// Action is one thing the executor must do. It is plain data.
type Action struct {
	Kind ActionKind `json:"kind"`
	// Member names the member, and Rollout is its rollout's action, for
	// member actions. Concurrency is the most target actions of this
	// member's output to run at once (zero: all).
	Member      string         `json:"member,omitempty"`
	Rollout     rollout.Action `json:"rollout,omitzero"`
	Concurrency int            `json:"concurrency,omitempty"`
	// Round numbers a health check; Scopes are the alarms to evaluate.
	Round  uint64  `json:"round,omitempty"`
	Scopes []Scope `json:"scopes,omitempty"`
	// Drain is true to drain, false to restore, for ActionDrain.
	Drain bool `json:"drain,omitempty"`
}

// ObservationKind says what an [Observation] reports.
type ObservationKind string

const (
	ObsMember    ObservationKind = "member"    // answers ActionMember
	ObsHealth    ObservationKind = "health"    // answers ActionCheckHealth
	ObsDrain     ObservationKind = "drain"     // answers ActionDrain
	ObsControl   ObservationKind = "control"   // a control request
	ObsRestarted ObservationKind = "restarted" // the executor started afresh
)

// Observation is the plain-data result of an action, or a request. Build
// them with the Observe functions.
type Observation struct {
	Kind ObservationKind `json:"kind"`
	// Member and Rollout: a member's rollout observation.
	Member  string              `json:"member,omitempty"`
	Rollout rollout.Observation `json:"rollout,omitzero"`
	// Round, Health and Err answer a health check: one result per alarm,
	// by name, or the error that kept them from being read.
	Round  uint64         `json:"round,omitempty"`
	Health []alarm.Result `json:"health,omitempty"`
	Err    string         `json:"err,omitempty"`
	// Control is the request.
	Control *Control `json:"control,omitempty"`
	// Scope and Drain echo a drain action (with Member and Err).
	Scope Scope `json:"scope,omitzero"`
	Drain bool  `json:"drain,omitempty"`
}

// ObserveDrain answers a drain action: err is the drainer's error, nil
// when the traffic was moved.
func ObserveDrain(a Action, err error) Observation {
	o := Observation{Kind: ObsDrain, Member: a.Member, Drain: a.Drain}
	if len(a.Scopes) > 0 {
		o.Scope = a.Scopes[0]
	}
	if err != nil {
		o.Err = err.Error()
		if o.Err == "" {
			o.Err = "error"
		}
	}
	return o
}

// ObserveMember answers a member action with its rollout observation (as
// [rollout.Hands.Do] returns it).
func ObserveMember(a Action, o rollout.Observation) Observation {
	return Observation{Kind: ObsMember, Member: a.Member, Rollout: o}
}

// ObserveHealth answers a health check. An error makes every scope
// unreadable for this check.
func ObserveHealth(a Action, results []alarm.Result, err error) Observation {
	o := Observation{Kind: ObsHealth, Round: a.Round, Health: results}
	if err != nil {
		o.Health, o.Err = nil, err.Error()
		if o.Err == "" {
			o.Err = "error"
		}
	}
	return o
}

// ObserveControl wraps a control request.
func ObserveControl(c Control) Observation { return Observation{Kind: ObsControl, Control: &c} }

// Restarted is the observation an executor passes to its first step after
// loading a saved state: every action in flight was lost.
func Restarted() Observation { return Observation{Kind: ObsRestarted} }

// Output is what one step decided.
type Output struct {
	// Actions are to be performed, after saving the state if Persist is
	// set.
	Actions []Action
	// Cancel names the members whose actions in flight must be cancelled
	// (their rollout stopped mid-round; see [rollout.Output.Cancel]).
	Cancel []string
	// WakeAt is when to step again if nothing arrives first.
	WakeAt time.Time
	// Persist is set when the state must be saved before any action.
	Persist bool
	// Events report what happened, in order.
	Events []Event
	// Done is set when the group has ended.
	Done bool
}

// EventKind names an [Event].
type EventKind string

const (
	EventMember        EventKind = "member"         // a member's rollout event (Rollout)
	EventStarted       EventKind = "member-started" // a member's rollout started
	EventEnded         EventKind = "member-ended"   // a member's rollout ended (Reason: its phase)
	EventCancelled     EventKind = "member-cancelled"
	EventPaused        EventKind = "member-paused"  // the group paused a member
	EventResumed       EventKind = "member-resumed" // the group resumed it
	EventAborted       EventKind = "member-aborted" // the group rolled a member back
	EventLineStopped   EventKind = "line-stopped"
	EventLineReleased  EventKind = "line-released"
	EventAlarm         EventKind = "alarm"      // a shared alarm fired
	EventSuspects      EventKind = "suspects"   // too close to call yet
	EventCulprit       EventKind = "culprit"    // the culprit was found
	EventTrial         EventKind = "trial"      // a suspect's drain test moved on
	EventNoSuspect     EventKind = "no-suspect" // no change of ours reached the scope
	EventCleared       EventKind = "cleared"    // a shared alarm cleared
	EventUnreadable    EventKind = "unreadable" // a shared alarm went unread too long
	EventGroupRollback EventKind = "group-rollback"
	EventRestarted     EventKind = "restarted"
	EventControl       EventKind = "control"
	EventDone          EventKind = "done" // the group ended (Reason: its phase)
)

// Event is something that happened, for callbacks and logs. Plain data.
type Event struct {
	Kind  EventKind `json:"kind"`
	Time  time.Time `json:"time"`
	Group string    `json:"group"`
	// Member is the member concerned, if any.
	Member string `json:"member,omitempty"`
	// Scope is the shared alarm's place, for health events.
	Scope string `json:"scope,omitempty"`
	// Reason says why, in plain words.
	Reason string `json:"reason,omitempty"`
	// Rollout is the member's event (EventMember).
	Rollout *rollout.Event `json:"rollout,omitempty"`
	// Suspects is the ranking (EventSuspects, EventCulprit).
	Suspects []Suspect `json:"suspects,omitempty"`
}

// String formats the event in one line.
func (e Event) String() string {
	s := fmt.Sprintf("%s %s", e.Time.Format("Jan 2 15:04"), e.Kind)
	if e.Member != "" {
		s += " " + e.Member
	}
	if e.Scope != "" {
		s += " [" + e.Scope + "]"
	}
	if e.Rollout != nil {
		s += " " + string(e.Rollout.Kind)
		if e.Rollout.Stage != "" {
			s += " " + e.Rollout.Stage
		}
		if e.Rollout.Reason != "" {
			s += ": " + e.Rollout.Reason
		}
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// ControlKind names a group control request.
type ControlKind string

const (
	// ControlStop stops the line: every member is paused where it is and
	// no member starts or begins a stage until ControlRelease.
	ControlStop ControlKind = "stop"
	// ControlRelease releases a stopped line.
	ControlRelease ControlKind = "release"
	// ControlAbort rolls back one member (Member set) or the whole group,
	// dependents first.
	ControlAbort ControlKind = "abort"
	// ControlPause, ControlResume, ControlApprove and ControlSkipBake are
	// passed to member Member's rollout as they are.
	ControlPause    ControlKind = "pause"
	ControlResume   ControlKind = "resume"
	ControlApprove  ControlKind = "approve"
	ControlSkipBake ControlKind = "skip-bake"
)

// Control is a request from a human to the group or one member.
type Control struct {
	Kind ControlKind `json:"kind"`
	// Member names the member, for member requests.
	Member string `json:"member,omitempty"`
	// Actor is who asks; required. Reason says why; required to stop the
	// line or abort.
	Actor  string `json:"actor"`
	Reason string `json:"reason,omitempty"`
	// Stage names the stage of an approval or a bake skip.
	Stage string `json:"stage,omitempty"`
}

// Validate reports a malformed request.
func (c Control) Validate() error {
	var errs []error
	bad := func(f string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+f, append([]any{ErrInvalid}, args...)...))
	}
	if c.Actor == "" {
		bad("control: no actor")
	}
	switch c.Kind {
	case ControlStop, ControlAbort:
		if c.Reason == "" {
			bad("control: %s needs a reason", c.Kind)
		}
	case ControlRelease:
	case ControlPause, ControlResume, ControlApprove, ControlSkipBake:
		if c.Member == "" {
			bad("control: %s needs a member", c.Kind)
		}
	default:
		bad("control: unknown kind %q", c.Kind)
	}
	return errors.Join(errs...)
}
