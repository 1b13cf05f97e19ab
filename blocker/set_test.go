package blocker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shepherd-go/shepherd/alarm"
)

func fixed(name string, st alarm.State, reason string) Alarm {
	return Alarm{Name: name, Checker: alarm.CheckerFunc(func(context.Context, time.Time) (alarm.Result, error) {
		return alarm.Result{Name: name, State: st, Reason: reason}, nil
	})}
}

func failing(name string, err error) Alarm {
	return Alarm{Name: name, Checker: alarm.CheckerFunc(func(context.Context, time.Time) (alarm.Result, error) {
		return alarm.Result{}, err
	})}
}

func decide(d Decision, err error) Func {
	return func(context.Context, Subject, time.Time) (Decision, error) { return d, err }
}

func TestAlarms(t *testing.T) {
	ctx := context.Background()
	now := utc("2025-06-16T12:00:00Z")
	boom := errors.New("source down")
	tests := []struct {
		name    string
		a       Alarms
		want    Decision
		wantErr string
	}{
		{
			name: "all OK",
			a:    Alarms{Watch: []Alarm{fixed("api", alarm.OK, ""), fixed("db", alarm.OK, "")}},
			want: Decision{Reason: "api is OK; db is OK"},
		},
		{
			name: "every alarm in ALARM is a reason",
			a: Alarms{Watch: []Alarm{fixed("api", alarm.Alarm, "p99 2.1s > 1s"), fixed("db", alarm.OK, ""),
				fixed("canary", alarm.Alarm, "3 of 5 failed")}},
			want: Decision{Blocked: true, Reason: "api is ALARM (p99 2.1s > 1s); canary is ALARM (3 of 5 failed)",
				Holds: []Hold{{Kind: HoldAlarm, Name: "api"}, {Kind: HoldAlarm, Name: "canary"}}},
		},
		{
			name: "INSUFFICIENT_DATA does not block by default",
			a:    Alarms{Watch: []Alarm{fixed("api", alarm.InsufficientData, "no points")}},
			want: Decision{Reason: "api is INSUFFICIENT_DATA (no points), not blocking"},
		},
		{
			name: "INSUFFICIENT_DATA blocks when configured",
			a:    Alarms{Watch: []Alarm{fixed("api", alarm.InsufficientData, "no points")}, BlockInsufficientData: true},
			want: Decision{Blocked: true, Reason: "api is INSUFFICIENT_DATA (no points)", Holds: []Hold{{Kind: HoldAlarm, Name: "api"}}},
		},
		{
			name:    "an error is reported with the other alarms' evidence",
			a:       Alarms{Watch: []Alarm{failing("api", boom), fixed("db", alarm.Alarm, "")}},
			want:    Decision{Blocked: true, Reason: "db is ALARM", Holds: []Hold{{Kind: HoldAlarm, Name: "db"}}},
			wantErr: `blocker: alarm "api": source down`,
		},
		{
			name:    "unknown state is an error",
			a:       Alarms{Watch: []Alarm{fixed("api", alarm.State(9), "")}},
			want:    Decision{},
			wantErr: `blocker: alarm "api": unknown state State(9)`,
		},
		{
			name:    "nothing to watch is an error",
			a:       Alarms{},
			wantErr: "blocker: alarms: nothing to watch",
		},
		{
			name:    "nil checker is an error; names fall back to the result's",
			a:       Alarms{Watch: []Alarm{{}, {Checker: fixed("from-result", alarm.Alarm, "").Checker}}},
			want:    Decision{Blocked: true, Reason: "from-result is ALARM", Holds: []Hold{{Kind: HoldAlarm, Name: "from-result"}}},
			wantErr: `blocker: alarm "alarm 0": no checker`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := tt.a.Check(ctx, Subject{}, now)
			if diff := cmp.Diff(tt.want, d); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
			if got := fmt.Sprint(err); (err != nil || tt.wantErr != "") && got != tt.wantErr {
				t.Errorf("err = %q, want %q", got, tt.wantErr)
			}
		})
	}
}

func TestSetCheck(t *testing.T) {
	ctx := context.Background()
	now := utc("2025-06-16T12:00:00Z")
	t1, t2 := now.Add(time.Hour), now.Add(3*time.Hour)
	boom := errors.New("store unreachable")
	tests := []struct {
		name string
		set  Set
		want Verdict
	}{
		{
			name: "empty set clears",
			want: Verdict{Results: []Result{}},
		},
		{
			name: "every reason, and the latest Until when all are known",
			set: Set{Entries: []Entry{
				{Name: "window", Blocker: decide(Decision{Blocked: true, Reason: "closed", Until: t2}, nil)},
				{Name: "ok", Blocker: decide(Decision{Reason: "fine"}, nil)},
				{Name: "freeze", Blocker: decide(Decision{Blocked: true, Reason: "frozen", Until: t1}, nil)},
			}},
			want: Verdict{Blocked: true, Until: t2, Earliest: t1, Results: []Result{
				{Decision: Decision{Blocker: "window", Blocked: true, Reason: "closed", Until: t2}},
				{Decision: Decision{Blocker: "ok", Reason: "fine"}},
				{Decision: Decision{Blocker: "freeze", Blocked: true, Reason: "frozen", Until: t1}},
			}},
		},
		{
			name: "an unknown Until makes the verdict's Until unknown",
			set: Set{Entries: []Entry{
				{Name: "window", Blocker: decide(Decision{Blocked: true, Reason: "closed", Until: t2}, nil)},
				{Name: "alarms", Blocker: decide(Decision{Blocked: true, Reason: "api is ALARM"}, nil)},
			}},
			want: Verdict{Blocked: true, Earliest: t2, Results: []Result{
				{Decision: Decision{Blocker: "window", Blocked: true, Reason: "closed", Until: t2}},
				{Decision: Decision{Blocker: "alarms", Blocked: true, Reason: "api is ALARM"}},
			}},
		},
		{
			name: "an error fails closed",
			set:  Set{Entries: []Entry{{Name: "switches", Blocker: decide(Decision{Until: t1}, boom)}}},
			want: Verdict{Blocked: true, Results: []Result{{
				Decision: Decision{Blocker: "switches", Blocked: true, Reason: "could not be evaluated (fails closed): store unreachable"},
				Error:    "store unreachable",
			}}},
		},
		{
			name: "FailOpen lets an error through and reports it",
			set:  Set{Entries: []Entry{{Name: "switches", Blocker: decide(Decision{}, boom), FailOpen: true}}},
			want: Verdict{Results: []Result{{
				Decision:   Decision{Blocker: "switches", Reason: "could not be evaluated (fails open): store unreachable"},
				Error:      "store unreachable",
				FailedOpen: true,
			}}},
		},
		{
			name: "a blocked decision with an error blocks even when failing open",
			set: Set{Entries: []Entry{{Name: "alarms", FailOpen: true,
				Blocker: decide(Decision{Blocked: true, Reason: "db is ALARM", Until: t1}, boom)}}},
			want: Verdict{Blocked: true, Results: []Result{{
				Decision: Decision{Blocker: "alarms", Blocked: true, Reason: "db is ALARM; could not be fully evaluated: store unreachable"},
				Error:    "store unreachable",
			}}},
		},
	}
	for _, tt := range tests {
		for _, conc := range []int{0, 4} {
			t.Run(fmt.Sprintf("%s/concurrency=%d", tt.name, conc), func(t *testing.T) {
				s := tt.set
				s.Concurrency = conc
				subj := Subject{Change: "c-1", Regions: []string{"us-east-1"}}
				got, err := s.Check(ctx, subj, now)
				if err != nil {
					t.Fatal(err)
				}
				want := tt.want
				want.Subject, want.Time = subj, now
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("verdict (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestSetInvalid(t *testing.T) {
	s := Set{Entries: []Entry{{Name: "a", Blocker: decide(Decision{}, nil)}, {Name: "a"}, {Blocker: decide(Decision{}, nil)}}, Concurrency: -1}
	v, err := s.Check(context.Background(), Subject{}, time.Now())
	if !v.Blocked || !errors.Is(err, ErrInvalid) {
		t.Fatalf("Check = %+v, %v; want blocked and ErrInvalid", v, err)
	}
	want := []string{
		`blocker: set.Entries[1].Name: duplicate name "a"`,
		`blocker: set.Entries[1].Blocker: nil`,
		`blocker: set.Entries[2].Name: empty`,
		`blocker: set.Concurrency: negative: -1`,
	}
	if diff := cmp.Diff(want, problemsOf(t, err)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestVerdictStringAndJSON(t *testing.T) {
	ctx := context.Background()
	now := utc("2025-06-16T12:00:00Z")
	ovr := &Overrides{Authorise: func(context.Context, Override) error { return nil }}
	if _, err := ovr.Grant(ctx, Override{Change: "c-1", Blockers: []string{"alarms"}, Actor: "alice",
		Reason: "shipping the fix", Expires: now.Add(2 * time.Hour)}, now); err != nil {
		t.Fatal(err)
	}
	s := Set{
		Overrides: ovr,
		Entries: []Entry{
			{Name: "window", Blocker: decide(Decision{Blocked: true, Reason: "us-east-1 closed", Until: now.Add(time.Hour)}, nil)},
			{Name: "alarms", Blocker: decide(Decision{Blocked: true, Reason: "api is ALARM"}, nil)},
			{Name: "switches", Blocker: decide(Decision{}, errors.New("timeout")), FailOpen: true},
		},
	}
	v, err := s.Check(ctx, Subject{Change: "c-1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	const want = `blocked by 1 of 3 blocker(s) until 2025-06-16T13:00:00Z: window: us-east-1 closed; ` +
		`alarms overridden by override-1 (alice, until 2025-06-16T14:00:00Z: shipping the fix); switches failed open: timeout`
	if got := v.String(); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back Verdict
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v, back); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}

	clear, _ := Set{Entries: []Entry{{Name: "w", Blocker: decide(Decision{}, nil)}}}.Check(ctx, Subject{}, now)
	if got := clear.String(); got != "clear: 1 blocker(s) checked" {
		t.Errorf("clear String() = %q", got)
	}
	unknown, _ := Set{Entries: []Entry{
		{Name: "a", Blocker: decide(Decision{Blocked: true, Reason: "x"}, nil)},
		{Name: "w", Blocker: decide(Decision{Blocked: true, Reason: "y", Until: now.Add(time.Minute)}, nil)},
	}}.Check(ctx, Subject{}, now)
	if got, want := unknown.String(), "blocked by 2 of 2 blocker(s), clear time unknown, next change at 2025-06-16T12:01:00Z: a: x; w: y"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestScopeMatches(t *testing.T) {
	tests := []struct {
		scope Scope
		subj  Subject
		want  bool
	}{
		{Scope{}, Subject{Service: "api", Regions: []string{"eu-west-1"}}, true},
		{Scope{Region: "eu-west-1"}, Subject{Regions: []string{"us-east-1", "eu-west-1"}}, true},
		{Scope{Region: "eu-west-1"}, Subject{Regions: []string{"us-east-1"}}, false},
		{Scope{Region: "eu-west-1"}, Subject{}, true}, // could be anywhere
		{Scope{Service: "api"}, Subject{Service: "api"}, true},
		{Scope{Service: "api"}, Subject{Service: "web"}, false},
		{Scope{Service: "api"}, Subject{}, true}, // could be any service
		{Scope{Service: "api", Region: "eu-west-1"}, Subject{Service: "api", Regions: []string{"us-east-1"}}, false},
		{Scope{Service: "api", Region: "eu-west-1"}, Subject{Service: "api", Regions: []string{"eu-west-1"}}, true},
	}
	for _, tt := range tests {
		if got := tt.scope.Matches(tt.subj); got != tt.want {
			t.Errorf("%s.Matches(%s) = %v, want %v", tt.scope, tt.subj, got, tt.want)
		}
	}
}

func TestSwitchboard(t *testing.T) {
	ctx := context.Background()
	now := utc("2025-06-16T12:00:00Z")
	audit := &AuditLog{}
	b := &Switchboard{Audit: audit}
	api := Subject{Service: "api", Regions: []string{"us-east-1"}}
	web := Subject{Service: "web", Regions: []string{"eu-west-1"}}

	if d, err := b.Check(ctx, api, now); err != nil || d.Blocked {
		t.Fatalf("empty board: %+v, %v", d, err)
	}
	stop, err := b.Set(ctx, Switch{Kind: StopTheLine, Scope: Scope{Service: "api"}, Actor: "bob", Reason: "integ tests red"}, now)
	if err != nil {
		t.Fatal(err)
	}
	sale, err := b.Set(ctx, Switch{Kind: OrgEvent, Scope: Scope{Region: "eu-west-1"}, Actor: "ops",
		Reason: "sales event", Start: now.Add(time.Hour), End: now.Add(5 * time.Hour)}, now)
	if err != nil {
		t.Fatal(err)
	}
	if stop.ID != "switch-1" || sale.ID != "switch-2" || !stop.SetAt.Equal(now) {
		t.Errorf("assigned %+v and %+v", stop, sale)
	}
	d, _ := b.Check(ctx, api, now)
	want := Decision{Blocked: true, Reason: `stop-the-line "switch-1" (service api) set by bob: integ tests red`,
		Holds: []Hold{{Kind: HoldSwitch, Name: "switch-1: integ tests red"}}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("api (-want +got):\n%s", diff)
	}
	if d, _ := b.Check(ctx, web, now); d.Blocked {
		t.Errorf("web blocked before the event starts: %s", d.Reason)
	}
	d, _ = b.Check(ctx, web, now.Add(2*time.Hour))
	want = Decision{Blocked: true, Until: now.Add(5 * time.Hour),
		Reason: `event "switch-2" (region eu-west-1) set by ops until 2025-06-16T17:00:00Z: sales event`,
		Holds:  []Hold{{Kind: HoldSwitch, Name: "switch-2: sales event", Until: now.Add(5 * time.Hour)}}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("web during the event (-want +got):\n%s", diff)
	}
	if d, _ := b.Check(ctx, web, now.Add(5*time.Hour)); d.Blocked {
		t.Errorf("web blocked after the event ended: %s", d.Reason)
	}
	list, _ := b.List(ctx, now)
	if diff := cmp.Diff([]Switch{stop, sale}, list); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}

	if _, err := b.Clear(ctx, stop.ID, "", "", now); !errors.Is(err, ErrInvalid) {
		t.Errorf("Clear without actor: %v", err)
	}
	if _, err := b.Clear(ctx, "switch-9", "bob", "done", now); !errors.Is(err, ErrNotFound) {
		t.Errorf("Clear unknown: %v", err)
	}
	cleared, err := b.Clear(ctx, stop.ID, "carol", "tests green again", now.Add(time.Minute))
	if err != nil || cleared.ID != stop.ID {
		t.Fatalf("Clear = %+v, %v", cleared, err)
	}
	if d, _ := b.Check(ctx, api, now.Add(time.Minute)); d.Blocked {
		t.Errorf("api still blocked after clear: %s", d.Reason)
	}
	if _, err := b.Set(ctx, Switch{Actor: "x", Reason: "y", End: now}, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("Set with End not after now: %v", err)
	}
	_, err = b.Set(ctx, Switch{}, now)
	wantProblems := []string{"blocker: switch.Actor: empty: say who sets the switch", "blocker: switch.Reason: empty: say why"}
	if diff := cmp.Diff(wantProblems, problemsOf(t, err)); diff != "" {
		t.Errorf("Set(zero) problems (-want +got):\n%s", diff)
	}

	// Every change, and only changes, are in the trail.
	var got []string
	for _, e := range audit.Events() {
		got = append(got, e.String())
	}
	wantTrail := []string{
		`2025-06-16T12:00:00Z switch.set by "bob" of switch "switch-1" (service api): integ tests red`,
		`2025-06-16T12:00:00Z switch.set by "ops" of switch "switch-2" (region eu-west-1): sales event`,
		`2025-06-16T12:01:00Z switch.clear by "carol" of switch "switch-1" (service api): tests green again`,
	}
	if diff := cmp.Diff(wantTrail, got); diff != "" {
		t.Errorf("audit trail (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(audit.Events(), b.AuditTrail()); diff != "" {
		t.Errorf("AuditTrail differs from the shared log (-want +got):\n%s", diff)
	}
}

func TestSwitchBlockerErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := (SwitchBlocker{}).Check(ctx, Subject{}, time.Now()); err == nil {
		t.Error("nil store: no error")
	}
	b := &Switchboard{}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Check(cctx, Subject{}, time.Now()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestOverrides(t *testing.T) {
	ctx := context.Background()
	now := utc("2025-06-16T12:00:00Z")
	audit := &AuditLog{}
	subj := Subject{Change: "fix-123", Service: "api"}
	set := func(o OverrideSource) Set {
		return Set{Overrides: o, Entries: []Entry{
			{Name: "alarms", Blocker: decide(Decision{Blocked: true, Reason: "api is ALARM"}, nil)},
			{Name: "window", Blocker: decide(Decision{Blocked: false}, nil)},
		}}
	}
	req := Override{Change: "fix-123", Blockers: []string{"alarms"}, Actor: "alice", Reason: "shipping the fix", Expires: now.Add(2 * time.Hour)}

	t.Run("no authoriser refuses", func(t *testing.T) {
		o := &Overrides{Audit: audit}
		_, err := o.Grant(ctx, req, now)
		if !errors.Is(err, ErrNotAuthorised) {
			t.Fatalf("Grant = %v, want ErrNotAuthorised", err)
		}
		v, _ := set(o).Check(ctx, subj, now)
		if !v.Blocked {
			t.Errorf("refused override applied: %s", v)
		}
	})
	t.Run("authoriser refuses", func(t *testing.T) {
		o := &Overrides{Audit: audit, Authorise: func(_ context.Context, r Override) error {
			if r.Actor != "oncall" {
				return fmt.Errorf("%s is not on call", r.Actor)
			}
			return nil
		}}
		_, err := o.Grant(ctx, req, now)
		if !errors.Is(err, ErrNotAuthorised) || !strings.Contains(err.Error(), "alice is not on call") {
			t.Fatalf("Grant = %v", err)
		}
		if len(o.List(now)) != 0 {
			t.Error("refused override stored")
		}
	})
	t.Run("malformed request is refused with field errors", func(t *testing.T) {
		o := &Overrides{Audit: audit, MaxDuration: -time.Hour, Authorise: func(context.Context, Override) error { return nil }}
		_, err := o.Grant(ctx, Override{Blockers: []string{""}, Expires: now.Add(-time.Minute)}, now)
		want := []string{
			"blocker: overrides.MaxDuration: negative duration -1h0m0s",
			"blocker: override.Change: empty: an override is for one change",
			"blocker: override.Blockers[0]: empty name",
			"blocker: override.Actor: empty: say who overrides",
			"blocker: override.Reason: empty: say why",
			"blocker: override.Expires: 2025-06-16T11:59:00Z is not after now (2025-06-16T12:00:00Z)",
		}
		if diff := cmp.Diff(want, problemsOf(t, err)); diff != "" {
			t.Errorf("problems (-want +got):\n%s", diff)
		}
		o.MaxDuration = 0
		long := req
		long.Expires = now.Add(25 * time.Hour)
		if _, err := o.Grant(ctx, long, now); err == nil || !strings.Contains(err.Error(), "is more than 24h0m0s from now") {
			t.Errorf("Grant beyond DefaultMaxOverride = %v", err)
		}
	})
	t.Run("authorised override applies until it expires", func(t *testing.T) {
		o := &Overrides{Audit: audit, Authorise: func(_ context.Context, r Override) error {
			if r.Actor == "alice" && r.Granted.Equal(now) {
				return nil
			}
			return errors.New("no")
		}}
		got, err := o.Grant(ctx, req, now)
		if err != nil {
			t.Fatal(err)
		}
		want := req
		want.ID, want.Granted = "override-1", now
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("granted (-want +got):\n%s", diff)
		}
		v, _ := set(o).Check(ctx, subj, now.Add(time.Hour))
		if v.Blocked || v.Results[0].Override == nil || v.Results[0].Override.ID != "override-1" {
			t.Errorf("override did not apply: %s", v)
		}
		if v.Results[1].Override != nil {
			t.Errorf("override attached to a clear result")
		}
		other, _ := set(o).Check(ctx, Subject{Change: "other"}, now.Add(time.Hour))
		if !other.Blocked {
			t.Errorf("override applied to another change: %s", other)
		}
		expired, _ := set(o).Check(ctx, subj, now.Add(2*time.Hour))
		if !expired.Blocked || expired.Results[0].Override != nil {
			t.Errorf("expired override still applies: %s", expired)
		}
		if n := len(o.List(now.Add(2 * time.Hour))); n != 0 {
			t.Errorf("List after expiry has %d overrides", n)
		}
	})
	t.Run("revoked override no longer applies", func(t *testing.T) {
		o := &Overrides{Audit: audit, Authorise: func(context.Context, Override) error { return nil }}
		g, err := o.Grant(ctx, req, now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Revoke(ctx, g.ID, "bob", "alarm was real", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := o.Revoke(ctx, g.ID, "bob", "again", now.Add(time.Minute)); !errors.Is(err, ErrNotFound) {
			t.Errorf("second Revoke = %v, want ErrNotFound", err)
		}
		v, _ := set(o).Check(ctx, subj, now.Add(2*time.Minute))
		if !v.Blocked {
			t.Errorf("revoked override applies: %s", v)
		}
	})
	t.Run("store error applies no override", func(t *testing.T) {
		broken := overrideFunc(func(context.Context, Subject, time.Time) ([]Override, error) {
			return nil, errors.New("db down")
		})
		v, err := set(broken).Check(ctx, subj, now)
		if err != nil || !v.Blocked || v.OverrideError != "db down" {
			t.Errorf("Check = %s, %v", v, err)
		}
		// A store that returns more than asked is filtered.
		loose := overrideFunc(func(context.Context, Subject, time.Time) ([]Override, error) {
			return []Override{{Change: "other", Blockers: []string{"alarms"}, Expires: now.Add(time.Hour)},
				{Change: "fix-123", Blockers: []string{"alarms"}, Expires: now}}, nil
		})
		if v, _ := set(loose).Check(ctx, subj, now); !v.Blocked {
			t.Errorf("foreign or expired override applied: %s", v)
		}
	})

	// Every attempt, granted or refused, and every revocation is audited.
	var actions []Action
	for _, e := range audit.Events() {
		actions = append(actions, e.Action)
		if e.Override == nil || e.Actor == "" && e.Action != OverrideRefuse {
			t.Errorf("event without its override or actor: %+v", e)
		}
	}
	wantActions := []Action{OverrideRefuse, OverrideRefuse, OverrideRefuse, OverrideRefuse, OverrideGrant, OverrideGrant, OverrideRevoke}
	if diff := cmp.Diff(wantActions, actions); diff != "" {
		t.Errorf("audited actions (-want +got):\n%s", diff)
	}
	refusal := audit.Events()[0]
	if refusal.Refusal == "" || !strings.Contains(refusal.String(), `override.refuse by "alice" for change "fix-123" bypassing alarms: shipping the fix (refused: blocker: not authorised: no authoriser is configured`) {
		t.Errorf("refusal event: %s", refusal)
	}
}

type overrideFunc func(context.Context, Subject, time.Time) ([]Override, error)

func (f overrideFunc) Active(ctx context.Context, s Subject, now time.Time) ([]Override, error) {
	return f(ctx, s, now)
}

// TestWait runs a weekend in a synctest bubble: the bubble's clock starts
// on Saturday 2000-01-01 00:00 UTC. A switch set on Saturday is cleared on
// Sunday evening; Wait returns when the window opens on Monday at 09:00.
func TestWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		start := time.Now()
		if start.Weekday() != time.Saturday {
			t.Fatalf("synctest bubbles start on Saturday 2000-01-01, this one on %s", start.Weekday())
		}
		cal := mustCalendar(t, Policy{Windows: businessHours})
		board := &Switchboard{}
		if _, err := board.Set(ctx, Switch{Kind: StopTheLine, Actor: "bob", Reason: "investigating"}, start); err != nil {
			t.Fatal(err)
		}
		go func() {
			time.Sleep(42 * time.Hour) // Sunday 18:00
			if _, err := board.Clear(ctx, "switch-1", "bob", "fixed", time.Now()); err != nil {
				t.Error(err)
			}
		}()
		s := Set{Entries: []Entry{{Name: "window", Blocker: cal}, {Name: "stop", Blocker: board}}}
		checks := 0
		v, err := s.Wait(ctx, Subject{Change: "c"}, 4*time.Hour, func(Verdict) { checks++ })
		if err != nil || v.Blocked {
			t.Fatalf("Wait = %s, %v", v, err)
		}
		if want := start.Add(57 * time.Hour); !time.Now().Equal(want) {
			t.Errorf("Wait returned at %s, want Monday 09:00 %s", time.Now(), want)
		}
		// Every 4 hours from Saturday 00:00 to Monday 08:00 (15 checks),
		// then one hour later at Earliest, the window's opening.
		if checks != 16 {
			t.Errorf("checks = %d, want 16", checks)
		}
		synctest.Wait()

		cctx, cancel := context.WithCancelCause(ctx)
		go func() { time.Sleep(time.Hour); cancel(errors.New("rollout stopped")) }()
		_, err = Set{Entries: []Entry{{Name: "a", Blocker: decide(Decision{Blocked: true}, nil)}}}.Wait(cctx, Subject{}, 0, nil)
		if err == nil || err.Error() != "rollout stopped" {
			t.Errorf("Wait after cancel = %v, want the cause", err)
		}
	})
}

// TestConcurrentStores sets, clears, grants and checks from many goroutines
// at once (run with -race); every change must land in the shared trail.
func TestConcurrentStores(t *testing.T) {
	ctx := context.Background()
	now := utc("2025-06-16T12:00:00Z")
	audit := &AuditLog{}
	board := &Switchboard{Audit: audit}
	ovr := &Overrides{Audit: audit, Authorise: func(context.Context, Override) error { return nil }}
	s := Set{Overrides: ovr, Concurrency: 3, Entries: []Entry{{Name: "stop", Blocker: board}}}
	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				sw, err := board.Set(ctx, Switch{Scope: Scope{Service: fmt.Sprint(w)}, Actor: "a", Reason: "r"}, now)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := ovr.Grant(ctx, Override{Change: fmt.Sprint(w, "-", i), Blockers: []string{"stop"},
					Actor: "a", Reason: "r", Expires: now.Add(time.Hour)}, now); err != nil {
					t.Error(err)
				}
				v, err := s.Check(ctx, Subject{Change: fmt.Sprint(w, "-", i), Service: fmt.Sprint(w)}, now)
				if err != nil || v.Blocked {
					t.Errorf("overridden switch blocks: %s, %v", v, err)
				}
				if _, err := board.Clear(ctx, sw.ID, "b", "done", now); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if n := len(audit.Events()); n != workers*rounds*3 {
		t.Errorf("audit trail has %d events, want %d", n, workers*rounds*3)
	}
	if list, _ := board.List(ctx, now); len(list) != 0 {
		t.Errorf("%d switches left after clearing all", len(list))
	}
}
