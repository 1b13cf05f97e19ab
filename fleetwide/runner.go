package fleetwide

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/rollout"
)

// Health evaluates the shared alarms: one result per scope, named after
// its Alarm. A scope missing from the results, or in INSUFFICIENT_DATA,
// counts as unread.
type Health interface {
	Health(ctx context.Context, scopes []Scope, now time.Time) ([]alarm.Result, error)
}

// HealthFunc adapts a function to [Health].
type HealthFunc func(ctx context.Context, scopes []Scope, now time.Time) ([]alarm.Result, error)

// Health calls f.
func (f HealthFunc) Health(ctx context.Context, scopes []Scope, now time.Time) ([]alarm.Result, error) {
	return f(ctx, scopes, now)
}

// HealthRules adapts alarm rules to [Health]: rules returns the rule of
// each scope (its Name is set to the scope's Alarm), evaluated against src
// at every check. The rules are bound into one [alarm.Set] at the first
// check and kept, so that rules that ignore missing data keep their state.
func HealthRules(src alarm.Source, rules func(s Scope) alarm.Rule) Health {
	var (
		mu  sync.Mutex
		set *alarm.Set
	)
	return HealthFunc(func(ctx context.Context, scopes []Scope, now time.Time) ([]alarm.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		if set == nil {
			var rs []alarm.Rule
			for _, sc := range scopes {
				r := rules(sc)
				r.Name = sc.Alarm
				rs = append(rs, r)
			}
			s, err := alarm.NewSet(src, rs...)
			if err != nil {
				return nil, err
			}
			set = s
		}
		var res []alarm.Result
		for _, o := range set.CheckAll(ctx, now) {
			// An alarm that cannot be read is left out: the group counts
			// it unread (fail closed), as it does INSUFFICIENT_DATA.
			if o.Err == nil {
				res = append(res, o.Result)
			}
		}
		return res, nil
	})
}

// Drainer sends a member's traffic in a scope back to the version its
// change replaces (on true) and forth to the change again (on false), for
// the group's drain tests ([Trial]). It must be idempotent: after a crash
// the group asks again. A team implements it with its load balancer or
// its traffic router (package traffic's Router): a route of Percent 0
// drains, the route it had restores.
type Drainer interface {
	Drain(ctx context.Context, scope Scope, on bool) error
}

// DrainerFunc adapts a function to [Drainer].
type DrainerFunc func(ctx context.Context, scope Scope, on bool) error

// Drain calls f.
func (f DrainerFunc) Drain(ctx context.Context, scope Scope, on bool) error { return f(ctx, scope, on) }

// DefaultHealthTimeout bounds one evaluation of the shared alarms, and
// one drain.
const DefaultHealthTimeout = time.Minute

// Config is the wiring of a [Runner]. Every field but Members is optional.
type Config struct {
	// Store persists the group's state ([EncodeState]) under a lease, in
	// one record named after the group. Nil means a new
	// [rollout.MemoryStore].
	Store rollout.Store
	// Members are each member's hands, by member name: its deployer and
	// gates. The runner fills in Policy and Rollout from the member's
	// spec, so that a member's retries are what its policy says.
	Members map[string]rollout.Hands
	// Drainers are the drainers of the members marked [Member.Drain], by
	// member name.
	Drainers map[string]Drainer
	// Health evaluates the shared alarms of [HealthPolicy.Scopes]. Nil
	// with scopes makes every check unread: new stages there wait (fail
	// closed).
	Health Health
	// OnEvent receives every event, in order, from the goroutine that
	// called Run. It must not block for long.
	OnEvent func(Event)
	// Logger receives a line per group event (members' own events at
	// debug level). Nil means silence.
	Logger *slog.Logger
}

// ErrFailed is wrapped by the error of a run in which some member did not
// succeed.
var ErrFailed = errors.New("fleetwide: not every member succeeded")

// Runner executes a group: it performs the actions the [State] asks for,
// members' through their [rollout.Hands], concurrently, feeds the results
// back as they arrive, persists the state at every transition and sleeps
// between. Get one with [Create] or [Open]; call Run once. Request,
// StopLine, Release and Progress are safe to call from any goroutine.
type Runner struct {
	cfg     Config
	store   rollout.Store
	token   uint64
	resumed bool

	mu       sync.Mutex
	st       *State
	controls []Control
	notify   chan struct{}
	started  bool
	closed   bool
	ended    bool
}

// Create validates a new group and records it in the store under a lease
// held until Run returns (or Close is called). It fails with
// [rollout.ErrExists] if the store already holds the group.
func Create(ctx context.Context, s Spec, cfg Config) (*Runner, error) {
	st, err := NewState(s, time.Now())
	if err != nil {
		return nil, err
	}
	if err := checkHands(s, cfg); err != nil {
		return nil, err
	}
	r := newRunner(cfg, st)
	data, token, err := r.store.Load(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	r.token = token
	if data != nil {
		r.store.Release(ctx, s.ID, token)
		return nil, fmt.Errorf("fleetwide: create %q: %w", s.ID, rollout.ErrExists)
	}
	if err := r.save(ctx); err != nil {
		r.store.Release(ctx, s.ID, token)
		return nil, err
	}
	return r, nil
}

// Open takes over a saved group: it takes the lease and loads the state;
// Run then restarts every member's rollout where it was.
func Open(ctx context.Context, id string, cfg Config) (*Runner, error) {
	r := newRunner(cfg, nil)
	data, token, err := r.store.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Runner, error) {
		r.store.Release(ctx, id, token)
		return nil, err
	}
	if data == nil {
		return fail(fmt.Errorf("fleetwide: open %q: %w", id, rollout.ErrNotFound))
	}
	st, err := DecodeState(data)
	if err != nil {
		return fail(err)
	}
	if err := checkHands(st.Spec(), cfg); err != nil {
		return fail(err)
	}
	r.st, r.token, r.resumed = st, token, true
	return r, nil
}

func newRunner(cfg Config, st *State) *Runner {
	r := &Runner{cfg: cfg, store: cfg.Store, st: st, notify: make(chan struct{}, 1)}
	if r.store == nil {
		r.store = &rollout.MemoryStore{}
	}
	return r
}

func checkHands(s Spec, cfg Config) error {
	var errs []error
	for i, m := range s.Members {
		h, ok := cfg.Members[m.Name]
		if (!ok || h.Deployer == nil) && !m.Rollout.Policy.DryRun {
			errs = append(errs, fmt.Errorf("%w: members[%d]: no deployer for %q in Config.Members", ErrInvalid, i, m.Name))
		}
		if m.Drain && cfg.Drainers[m.Name] == nil {
			errs = append(errs, fmt.Errorf("%w: members[%d].drain: no drainer for %q in Config.Drainers", ErrInvalid, i, m.Name))
		}
	}
	return errors.Join(errs...)
}

func (r *Runner) save(ctx context.Context) error {
	data, err := EncodeState(r.st)
	if err != nil {
		return err
	}
	if err := r.store.Save(ctx, r.st.ID, r.token, data); err != nil {
		return fmt.Errorf("fleetwide: save %q: %w", r.st.ID, err)
	}
	return nil
}

// Close releases the lease without running. It is idempotent, and Run
// calls it when it returns.
func (r *Runner) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	id := r.st.ID
	r.mu.Unlock()
	return r.store.Release(context.WithoutCancel(context.Background()), id, r.token)
}

// Request validates and queues a control request; it is applied at the
// next step and recorded in the group's audit log.
func (r *Runner) Request(ctx context.Context, c Control) error {
	if err := c.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended || r.st.Phase.Terminal() {
		return rollout.ErrDone
	}
	if c.Member != "" && r.st.Member(c.Member) == nil {
		return fmt.Errorf("%w: no member %q", ErrInvalid, c.Member)
	}
	r.controls = append(r.controls, c)
	select {
	case r.notify <- struct{}{}:
	default:
	}
	return nil
}

// StopLine stops the line: every member pauses and nothing new starts
// until Release.
func (r *Runner) StopLine(ctx context.Context, actor, reason string) error {
	return r.Request(ctx, Control{Kind: ControlStop, Actor: actor, Reason: reason})
}

// Release releases a stopped line.
func (r *Runner) Release(ctx context.Context, actor string) error {
	return r.Request(ctx, Control{Kind: ControlRelease, Actor: actor})
}

// Progress returns a snapshot of the group.
func (r *Runner) Progress() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.Progress()
}

// State returns a copy of the group's state, through JSON.
func (r *Runner) State() (*State, error) {
	r.mu.Lock()
	data, err := EncodeState(r.st)
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return DecodeState(data)
}

type result struct {
	obs Observation
	a   Action
}

// Run drives the group until every member has ended, ctx is cancelled, or
// the store fails. It returns nil when every member succeeded, an error
// wrapping [ErrFailed] naming those that did not, or the error that
// stopped it (a cancelled run can be continued with [Open]). Run returns
// only after every goroutine it started has stopped, and releases the
// lease.
func (r *Runner) Run(ctx context.Context) (err error) {
	r.mu.Lock()
	if r.started || r.closed {
		r.mu.Unlock()
		return errors.New("fleetwide: Run called twice, or after Close")
	}
	r.started = true
	r.mu.Unlock()
	defer r.Close()

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	results := make(chan result, 16)
	members := map[string]context.Context{}
	cancels := map[string]context.CancelFunc{}
	memberCtx := func(name string) context.Context {
		if c, ok := members[name]; ok {
			return c
		}
		c, f := context.WithCancel(ctx)
		members[name], cancels[name] = c, f
		return c
	}
	// A member's target actions of one round share a semaphore of the
	// round's concurrency; a new round gets a new one.
	type sem struct {
		round uint64
		ch    chan struct{}
	}
	sems := map[string]sem{}
	inflight := 0

	var obs []Observation
	if r.resumed {
		obs = append(obs, Restarted())
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		r.mu.Lock()
		for _, c := range r.controls {
			obs = append(obs, ObserveControl(c))
		}
		r.controls = nil
		out, err := r.st.Step(time.Now(), obs...)
		if out.Done {
			r.ended = true
		}
		r.mu.Unlock()
		obs = nil
		if err != nil {
			return err
		}
		if out.Persist {
			if err := r.save(ctx); err != nil {
				return err
			}
		}
		r.report(out.Events)
		if out.Done {
			return r.result()
		}
		for _, name := range out.Cancel {
			if f, ok := cancels[name]; ok {
				f()
				delete(members, name)
				delete(cancels, name)
			}
		}
		for _, a := range out.Actions {
			inflight++
			var limit chan struct{}
			if a.Kind == ActionMember && a.Rollout.Kind.Target() && a.Concurrency > 0 {
				s, ok := sems[a.Member]
				if !ok || s.round != a.Rollout.Round {
					s = sem{a.Rollout.Round, make(chan struct{}, a.Concurrency)}
					sems[a.Member] = s
				}
				limit = s.ch
			}
			actx := ctx
			if a.Kind == ActionMember {
				actx = memberCtx(a.Member)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if limit != nil {
					select {
					case limit <- struct{}{}:
						defer func() { <-limit }()
					case <-actx.Done():
					}
				}
				o := r.do(actx, a)
				select {
				case results <- result{o, a}:
				case <-ctx.Done():
				}
			}()
		}
		if timer != nil {
			timer.Stop()
			timer = nil
		}
		var wake <-chan time.Time
		if !out.WakeAt.IsZero() {
			timer = time.NewTimer(time.Until(out.WakeAt))
			wake = timer.C
		}
		select {
		case res := <-results:
			inflight--
			obs = append(obs, res.obs)
			for more := true; more; {
				select {
				case res := <-results:
					inflight--
					obs = append(obs, res.obs)
				default:
					more = false
				}
			}
		case <-r.notify:
		case <-wake:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// do performs one action and returns its observation.
func (r *Runner) do(ctx context.Context, a Action) Observation {
	now := time.Now()
	if a.Kind == ActionCheckHealth {
		if r.cfg.Health == nil {
			return ObserveHealth(a, nil, errors.New("no Health gate is configured"))
		}
		ctx, cancel := context.WithTimeout(ctx, DefaultHealthTimeout)
		defer cancel()
		res, err := safeHealth(ctx, r.cfg.Health, a.Scopes, now)
		return ObserveHealth(a, res, err)
	}
	if a.Kind == ActionDrain {
		ctx, cancel := context.WithTimeout(ctx, DefaultHealthTimeout)
		defer cancel()
		return ObserveDrain(a, safeDrain(ctx, r.cfg.Drainers[a.Member], a))
	}
	r.mu.Lock()
	m := r.st.Member(a.Member)
	spec := m.Member.Rollout
	r.mu.Unlock()
	h := r.cfg.Members[a.Member]
	h.Policy, h.Rollout = spec.Policy, spec.ID
	return ObserveMember(a, h.Do(ctx, a.Rollout, now))
}

func safeHealth(ctx context.Context, h Health, scopes []Scope, now time.Time) (res []alarm.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("fleetwide: the Health gate panicked: %v", p)
		}
	}()
	return h.Health(ctx, scopes, now)
}

func safeDrain(ctx context.Context, d Drainer, a Action) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("fleetwide: the drainer of %s panicked: %v", a.Member, p)
		}
	}()
	if d == nil {
		return fmt.Errorf("fleetwide: no drainer for %s", a.Member)
	}
	if len(a.Scopes) != 1 {
		return fmt.Errorf("fleetwide: a drain names %d scopes, want 1", len(a.Scopes))
	}
	return d.Drain(ctx, a.Scopes[0], a.Drain)
}

func (r *Runner) report(events []Event) {
	for _, e := range events {
		if r.cfg.OnEvent != nil {
			r.cfg.OnEvent(e)
		}
		if l := r.cfg.Logger; l != nil {
			lvl := slog.LevelInfo
			if e.Kind == EventMember {
				lvl = slog.LevelDebug
			}
			l.Log(context.Background(), lvl, e.String(), "group", e.Group, "kind", string(e.Kind), "member", e.Member)
		}
	}
}

func (r *Runner) result() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st.Phase == Succeeded {
		return nil
	}
	var bad []string
	for _, m := range r.st.Members {
		if m.Status != MemberSucceeded {
			bad = append(bad, fmt.Sprintf("%s %s", m.Member.Name, m.Status))
		}
	}
	slices.Sort(bad)
	return fmt.Errorf("%w: %s", ErrFailed, strings.Join(bad, ", "))
}
