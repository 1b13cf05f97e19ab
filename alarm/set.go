package alarm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Rule is a named alarm: exactly one of Threshold, Relative or Composite.
// Rules are plain data with a JSON form; a [Set] binds them to a source.
type Rule struct {
	// Name identifies the alarm in a set and in composite expressions.
	// Required.
	Name string `json:"name"`
	// Threshold compares one series with a threshold.
	Threshold *Threshold `json:"threshold,omitempty"`
	// Relative compares a scoped series with a baseline series.
	Relative *Relative `json:"relative,omitempty"`
	// Composite combines the states of other alarms of the set.
	Composite *Composite `json:"composite,omitempty"`
}

// Validate reports every problem with the rule on its own, each as a
// [*FieldError] whose path starts at the rule ("Threshold.Period").
// Names that a composite refers to are checked by [NewSet].
func (r Rule) Validate() error {
	var p problems
	r.validate(&p)
	return p.err()
}

func (r *Rule) validate(p *problems) {
	if r.Name == "" {
		p.add("Name", "must not be empty")
	}
	kinds := 0
	if r.Threshold != nil {
		kinds++
		p.prefix = "Threshold."
		r.Threshold.validate(p)
	}
	if r.Relative != nil {
		kinds++
		p.prefix = "Relative."
		r.Relative.validate(p)
	}
	if r.Composite != nil {
		kinds++
		p.prefix = "Composite."
		r.Composite.validate(p)
	}
	p.prefix = ""
	if kinds != 1 {
		p.add("Threshold", "exactly one of Threshold, Relative and Composite must be set, got %d", kinds)
	}
}

// Set is a group of named alarms bound to one [Source]. It is built once,
// with every rule validated, every name a composite uses resolved and cycles
// rejected, and is then safe for concurrent use.
//
// A set remembers each alarm's last evaluated state, which is what
// TreatMissingData [Ignore] keeps; every Check updates it, whoever calls.
type Set struct {
	src   Source
	rules []compiled
	index map[string]int
	order []int // leaves first, then composites in dependency order

	mu   sync.Mutex
	prev []State
}

type compiled struct {
	Rule
	expr *Expression // for composites
}

// maxConcurrentQueries bounds the source queries one CheckAll runs at once.
const maxConcurrentQueries = 8

// NewSet validates the rules and binds them to src. It reports every
// problem at once: invalid fields, duplicate names, composite expressions
// naming alarms the set does not hold ([ErrUnknownAlarm]) and composites
// that depend on themselves ([ErrCycle]). src may be nil only when every
// rule is a composite.
func NewSet(src Source, rules ...Rule) (*Set, error) {
	s := &Set{src: src, index: make(map[string]int, len(rules))}
	var p problems
	for i, r := range rules {
		p.base = rulePath(i, r.Name)
		r.validate(&p)
		if r.Name != "" {
			if _, dup := s.index[r.Name]; dup {
				p.add("Name", "duplicate name")
				continue
			}
			s.index[r.Name] = len(s.rules)
		}
		c := compiled{Rule: r}
		if r.Composite != nil {
			c.expr, _ = ParseExpression(r.Composite.Expression)
		}
		if (r.Threshold != nil || r.Relative != nil) && src == nil {
			p.add("Name", "the set has no source to query")
		}
		s.rules = append(s.rules, c)
	}
	// Resolve composite references.
	p.base, p.prefix = "", ""
	for _, c := range s.rules {
		if c.expr == nil {
			continue
		}
		for _, n := range c.expr.names {
			if _, ok := s.index[n]; !ok {
				p.addErr(rulePath(-1, c.Name)+"Composite.Expression", ErrUnknownAlarm, "unknown alarm %q", n)
			}
		}
	}
	for _, err := range s.sort() {
		p.list.Merge(err)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	s.prev = make([]State, len(s.rules))
	return s, nil
}

// rulePath is the path of rule i of a set, ending in a dot: by its name
// (`rules["latency"].`), which a reader finds in the file, or by its
// index when it has none.
func rulePath(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("rules[%d].", i)
	}
	return fmt.Sprintf("rules[%q].", name)
}

// sort orders the rules so that every composite comes after the alarms it
// names, and reports cycles.
func (s *Set) sort() []error {
	const (
		unvisited = iota
		visiting
		done
	)
	mark := make([]int, len(s.rules))
	var errs []error
	var stack []string
	var visit func(i int)
	visit = func(i int) {
		switch mark[i] {
		case done:
			return
		case visiting:
			start := slices.Index(stack, s.rules[i].Name)
			cycle := append(slices.Clone(stack[start:]), s.rules[i].Name)
			errs = append(errs, &FieldError{Path: rulePath(-1, s.rules[i].Name) + "Composite.Expression",
				Problem: fmt.Sprintf("cycle: %s", joinArrows(cycle)), Err: ErrCycle})
			return
		}
		mark[i] = visiting
		stack = append(stack, s.rules[i].Name)
		if e := s.rules[i].expr; e != nil {
			for _, n := range e.names {
				if j, ok := s.index[n]; ok { // unknown names are reported apart
					visit(j)
				}
			}
		}
		stack = stack[:len(stack)-1]
		mark[i] = done
		s.order = append(s.order, i)
	}
	for i := range s.rules {
		visit(i)
	}
	return errs
}

func joinArrows(names []string) string {
	var out string
	for i, n := range names {
		if i > 0 {
			out += " -> "
		}
		out += quoteName(n)
	}
	return out
}

// Names returns the names of the set's alarms in the order they were given.
func (s *Set) Names() []string {
	names := make([]string, len(s.rules))
	for i, r := range s.rules {
		names[i] = r.Name
	}
	return names
}

// Rule returns the named rule.
func (s *Set) Rule(name string) (Rule, bool) {
	i, ok := s.index[name]
	if !ok {
		return Rule{}, false
	}
	return s.rules[i].Rule, true
}

// Outcome is the outcome of checking one alarm of a set: its result, or the
// error that kept it from being evaluated.
type Outcome struct {
	Result Result
	// Err is the source error (or, for a composite, the error of an alarm
	// it depends on). When Err is set, Result holds only the name and time.
	Err error
}

// Check evaluates the named alarm at now, querying the source for the
// window its rule needs (and, for a composite, evaluating the alarms it
// depends on). A source error is returned as an error: the alarm's state is
// unknown, which is never OK.
func (s *Set) Check(ctx context.Context, name string, now time.Time) (Result, error) {
	i, ok := s.index[name]
	if !ok {
		return Result{Name: name, Time: now}, fmt.Errorf("%w: %q", ErrUnknownAlarm, name)
	}
	out := s.check(ctx, now, s.closure(i))
	return out[i].Result, out[i].Err
}

// Checker returns the named alarm as a [Checker] (see [Set.Check]). It
// returns nil when the set holds no such alarm.
func (s *Set) Checker(name string) Checker {
	if _, ok := s.index[name]; !ok {
		return nil
	}
	return CheckerFunc(func(ctx context.Context, now time.Time) (Result, error) {
		return s.Check(ctx, name, now)
	})
}

// CheckAll evaluates every alarm of the set at now, querying the source
// concurrently (at most 8 queries at once), and returns their outcomes in
// the order of [Set.Names]. A composite whose alarms include one that
// failed fails too, with that error.
func (s *Set) CheckAll(ctx context.Context, now time.Time) []Outcome {
	all := make([]bool, len(s.rules))
	for i := range all {
		all[i] = true
	}
	out := s.check(ctx, now, all)
	return out
}

// closure marks rule i and everything it depends on.
func (s *Set) closure(i int) []bool {
	need := make([]bool, len(s.rules))
	var mark func(i int)
	mark = func(i int) {
		if need[i] {
			return
		}
		need[i] = true
		if e := s.rules[i].expr; e != nil {
			for _, n := range e.names {
				mark(s.index[n])
			}
		}
	}
	mark(i)
	return need
}

// check evaluates the marked rules: first all source queries, concurrently,
// then the rules in dependency order.
func (s *Set) check(ctx context.Context, now time.Time, need []bool) []Outcome {
	out := make([]Outcome, len(s.rules))
	type fetched struct {
		scoped, baseline Series
		err              error
	}
	data := make([]fetched, len(s.rules))
	g := new(errgroup.Group)
	g.SetLimit(maxConcurrentQueries)
	// Source errors are wrapped with the alarm's name only: sources name
	// the query in their errors ([Memory] and alarm/prometheus do).
	query := func(i int, q string, e *Evaluation, dst *Series) {
		g.Go(func() error {
			ser, err := s.src.Query(ctx, q, e.Window(now))
			if err != nil {
				// Each rule keeps its own error; the group's error is unused.
				data[i].err = fmt.Errorf("alarm: %q: %w", s.rules[i].Name, err)
				return nil
			}
			*dst = ser
			return nil
		})
	}
	for i, r := range s.rules {
		if !need[i] {
			continue
		}
		switch {
		case r.Threshold != nil:
			query(i, r.Threshold.Query, &r.Threshold.Evaluation, &data[i].scoped)
		case r.Relative != nil:
			// Both queries of a relative rule run in one goroutine, so that
			// their errors are joined without a race.
			ri := i
			g.Go(func() error {
				var scopedErr, baselineErr, err error
				data[ri].scoped, err = s.src.Query(ctx, r.Relative.Query, r.Relative.Window(now))
				if err != nil {
					scopedErr = fmt.Errorf("alarm: %q: %w", r.Name, err)
				}
				var berr error
				data[ri].baseline, berr = s.src.Query(ctx, r.Relative.Baseline, r.Relative.Window(now))
				if berr != nil {
					baselineErr = fmt.Errorf("alarm: %q: baseline: %w", r.Name, berr)
				}
				data[ri].err = errors.Join(scopedErr, baselineErr)
				return nil
			})
		}
	}
	_ = g.Wait()

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, i := range s.order {
		if !need[i] {
			continue
		}
		r := &s.rules[i]
		o := &out[i]
		o.Result = Result{Name: r.Name, Time: now}
		switch {
		case r.Threshold != nil:
			if o.Err = data[i].err; o.Err == nil {
				o.Result = r.Threshold.EvaluateFrom(now, data[i].scoped, s.prev[i])
			}
		case r.Relative != nil:
			if o.Err = data[i].err; o.Err == nil {
				o.Result = r.Relative.EvaluateFrom(now, data[i].scoped, data[i].baseline, s.prev[i])
			}
		case r.expr != nil:
			for _, n := range r.expr.names {
				if err := out[s.index[n]].Err; err != nil {
					o.Err = fmt.Errorf("alarm: %q depends on %q: %w", r.Name, n, err)
					break
				}
			}
			if o.Err == nil {
				o.Result = r.expr.evaluate(now, func(n string) State { return out[s.index[n]].Result.State })
			}
		}
		o.Result.Name = r.Name
		if o.Err == nil {
			s.prev[i] = o.Result.State
		}
	}
	return out
}
