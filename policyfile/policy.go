package policyfile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/blocker"
	"github.com/shepherd-go/shepherd/canary"
	"github.com/shepherd-go/shepherd/field"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/wave"
)

// Sentinel errors. Every problem the package finds is a [*field.Error]
// wrapping one of them, except the problems of a part of the policy, which
// keep their own package's sentinel (wave.ErrInvalid, blocker.ErrInvalid...)
// with the path rewritten to the file's names.
var (
	// ErrInvalid is wrapped by every problem this package reports: a
	// value of the wrong type, a key given twice, a reference to an alarm
	// the file does not define.
	ErrInvalid = errors.New("policyfile: invalid policy file")
	// ErrUnknownField is a key that names no field. It wraps ErrInvalid.
	ErrUnknownField = fmt.Errorf("%w: unknown field", ErrInvalid)
	// ErrSyntax is a file that is not JSON or YAML. It wraps ErrInvalid.
	ErrSyntax = fmt.Errorf("%w: syntax error", ErrInvalid)
)

// Policy is every policy a rollout needs, in one file: how the plan is cut
// (Plan), how the driver behaves (Rollout), when a stage may start
// (Blockers), what it watches (Alarms) and how a canary is judged (Canary).
// Its zero value is the documented default of every part: an empty file
// is the published practice.
type Policy struct {
	// Plan is the wave planner's policy: levels, one-box, waves, batches
	// and how long each stage bakes.
	Plan wave.Policy `json:"plan,omitzero"`
	// Rollout is the driver's policy: deploys, retries, what a bake waits
	// for, approvals, the steps of a stage, reactions to signals.
	Rollout rollout.Policy `json:"rollout,omitzero"`
	// Blockers says when a stage may not start: the deployment calendar
	// and the alarms that hold a stage back.
	Blockers Blockers `json:"blockers,omitzero"`
	// Alarms are the alarm rules watched from the first deploy to the end
	// of the rollout; a rule in ALARM stops the rollout. Names are unique.
	Alarms []alarm.Rule `json:"alarms,omitempty"`
	// Canary is the sequential canary judge's policy, used when
	// Rollout.Canary is enabled. Nil: no judge is configured by the file.
	Canary *canary.Policy `json:"canary,omitempty"`
}

// Blockers is the blockers' part of a policy file: a deployment calendar
// (the fields of [blocker.Policy], written inline: zone, zones, windows,
// deny, holidays, freezes) and the alarms that block a stage from starting
// while they are in ALARM.
type Blockers struct {
	blocker.Policy
	// Alarms names rules of [Policy.Alarms] that block a stage from
	// starting while they are in ALARM (a fleet-wide error rate, a
	// dependency's health).
	Alarms []string `json:"alarms,omitempty"`
	// BlockInsufficientData also blocks while one of Alarms has too little
	// data to judge.
	BlockInsufficientData bool `json:"blockInsufficientData,omitempty"`
}

// calendar reports whether the calendar part says anything.
func (b Blockers) calendar() bool {
	return !reflect.ValueOf(b.Policy).IsZero()
}

// Parse reads a policy file, JSON or YAML (see [Unmarshal] for which is
// which), strictly, and validates every part. It reports every problem at
// once, joined, each a [*field.Error] with the path of the field in the file.
func Parse(data []byte) (*Policy, error) {
	var p Policy
	if err := Unmarshal(data, &p); err != nil {
		var fe *field.Error
		if errors.As(err, &fe) && errors.Is(fe.Err, ErrSyntax) {
			return nil, err
		}
		// Validate what could be read as well, leaving out the fields
		// already reported: every problem at once, none twice.
		bad := field.All(err)
		var l field.List
		l.Merge(err)
		for _, ve := range field.Flatten(p.Validate()) {
			if vfe, ok := ve.(*field.Error); ok && covered(vfe.Path, bad) {
				continue
			}
			l.Merge(ve)
		}
		return nil, l.Err()
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// covered reports whether path is at or below (or above) a path already
// reported.
func covered(path string, bad []*field.Error) bool {
	for _, b := range bad {
		if under(path, b.Path) || under(b.Path, path) {
			return true
		}
	}
	return false
}

func under(p, parent string) bool {
	return p == parent || strings.HasPrefix(p, parent+".") || strings.HasPrefix(p, parent+"[")
}

// Load reads the policy file at path with [Parse].
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Format is the form of a file written by [Marshal].
type Format string

// The formats.
const (
	JSON Format = "json"
	YAML Format = "yaml"
)

// FormatOf returns the format a file's name says: YAML for .yaml and .yml,
// JSON otherwise.
func FormatOf(path string) Format {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return YAML
	}
	return JSON
}

// Marshal writes v (a [Policy], or any value [Unmarshal] reads) as an
// indented JSON document or as YAML with the same field names. What it
// writes, Parse reads back to an equal policy.
func Marshal(v any, f Format) ([]byte, error) {
	js, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	if f == YAML {
		return yaml.JSONToYAML(js)
	}
	return append(js, '\n'), nil
}

// Validate reports every problem of every part of the policy, with the
// paths of the fields in the file ("plan.batch.maxFraction",
// "blockers.freezes[0].reason", "alarms[2].threshold.period"), each part
// keeping its own sentinel error, and checks what ties the parts together:
// the alarms that blockers name exist, and the canary judge has a policy
// when the rollout enables it.
func (p *Policy) Validate() error {
	var l field.List
	l.Merge(jsonPaths(p.Plan.Validate(), reflect.TypeFor[wave.Policy](), "policy", "plan"))
	l.Merge(jsonPaths(p.Rollout.Validate(), reflect.TypeFor[rollout.Policy](), "policy", "rollout"))
	if p.Blockers.calendar() {
		l.Merge(jsonPaths(p.Blockers.Policy.Validate(), reflect.TypeFor[blocker.Policy](), "policy", "blockers"))
	}
	l.Merge(p.validateAlarms())
	names := map[string]bool{}
	for _, r := range p.Alarms {
		names[r.Name] = true
	}
	for i, n := range p.Blockers.Alarms {
		if !names[n] {
			l.Add(ErrInvalid, fmt.Sprintf("blockers.alarms[%d]", i), "%q is not the name of one of the file's alarms", n)
		}
	}
	if p.Canary != nil {
		l.Merge(canaryProblems(p.Canary.Validate()))
	} else if p.Rollout.Canary.Enabled {
		l.Add(ErrInvalid, "canary", "missing: rollout.canary.enabled is true, and the judge needs its policy")
	}
	return l.Err()
}

// validateAlarms validates each rule under alarms[i], then the set as a
// whole: unique names, composites naming alarms of the file, no cycles.
func (p *Policy) validateAlarms() error {
	var l field.List
	first := map[string]int{}
	ruleType := reflect.TypeFor[alarm.Rule]()
	for i, r := range p.Alarms {
		path := fmt.Sprintf("alarms[%d]", i)
		l.Merge(jsonPaths(r.Validate(), ruleType, "", path))
		if r.Name == "" {
			continue
		}
		if j, dup := first[r.Name]; dup {
			l.Add(ErrInvalid, path+".name", "%q is also the name of alarms[%d]", r.Name, j)
			continue
		}
		first[r.Name] = i
	}
	if len(p.Alarms) == 0 || l.Len() > 0 {
		return l.Err()
	}
	// The set resolves composites and finds cycles; its per-rule problems
	// were reported above.
	_, err := alarm.NewSet(noSource{}, p.Alarms...)
	for _, fe := range field.All(err) {
		if !errors.Is(fe, alarm.ErrUnknownAlarm) && !errors.Is(fe, alarm.ErrCycle) {
			continue
		}
		c := *fe
		c.Path = rulePath(c.Path, first, ruleType)
		l.Merge(&c)
	}
	return l.Err()
}

var setRule = regexp.MustCompile(`^rules\[("(?:[^"\\]|\\.)*"|\d+)\]\.?`)

// rulePath maps an alarm set's path (`rules["latency"].Composite.Expression`)
// to the file's (`alarms[2].composite.expression`).
func rulePath(p string, index map[string]int, t reflect.Type) string {
	m := setRule.FindStringSubmatch(p)
	if m == nil {
		return join("alarms", p)
	}
	rest := p[len(m[0]):]
	i, err := strconv.Atoi(m[1])
	if err != nil {
		name, _ := strconv.Unquote(m[1])
		i = index[name]
	}
	return join(fmt.Sprintf("alarms[%d]", i), translate(rest, t))
}

// noSource is the source of a set built only to validate it.
type noSource struct{}

func (noSource) Query(context.Context, string, alarm.Range) (alarm.Series, error) {
	return alarm.Series{}, errors.New("policyfile: no source")
}

// canaryProblems puts the canary policy's problems under "canary" with
// the file's names; each keeps canary's sentinel.
func canaryProblems(err error) error {
	if err == nil {
		return nil
	}
	t := reflect.TypeFor[canary.Policy]()
	var l field.List
	for _, e := range field.Flatten(err) {
		var fe *field.Error
		if errors.As(e, &fe) {
			c := *fe
			c.Path = join("canary", translate(strings.TrimPrefix(fe.Path, "policy."), t))
			l.Merge(&c)
			continue
		}
		l.Merge(&field.Error{Path: "canary", Problem: strings.TrimPrefix(e.Error(), "canary: "), Err: e})
	}
	return l.Err()
}

// PlanFleet plans targets with the file's plan policy.
func (p *Policy) PlanFleet(targets []wave.Target) (*wave.Plan, error) {
	return p.Plan.Plan(targets)
}

// Wire returns cfg with the gates the file describes, reading metrics from
// src: Blockers from the calendar and the blocking alarms (for the
// service named, which switches scoped to a service match), and Alarms
// watching every rule of the file. A gate the file leaves empty keeps cfg's
// own. The canary judge is not wired: where its metrics live is the
// team's code (rollout.SequentialJudge with the file's Canary policy).
func (p *Policy) Wire(cfg rollout.Config, src alarm.Source, service string) (rollout.Config, error) {
	if err := p.Validate(); err != nil {
		return cfg, err
	}
	var set *alarm.Set
	if len(p.Alarms) > 0 {
		if src == nil {
			return cfg, fmt.Errorf("%w: the file has alarms and no metric source was given", ErrInvalid)
		}
		var err error
		if set, err = alarm.NewSet(src, p.Alarms...); err != nil {
			return cfg, err
		}
		rules := slices.Clone(p.Alarms)
		cfg.Alarms = rollout.AlarmRules(src, func(rollout.Subject) []alarm.Rule { return rules })
	}
	var entries []blocker.Entry
	if p.Blockers.calendar() {
		cal, err := blocker.NewCalendar(p.Blockers.Policy)
		if err != nil {
			return cfg, field.Prefix("blockers", err)
		}
		entries = append(entries, blocker.Entry{Name: "calendar", Blocker: cal})
	}
	if len(p.Blockers.Alarms) > 0 {
		var watch []blocker.Alarm
		for _, n := range p.Blockers.Alarms {
			watch = append(watch, blocker.Alarm{Name: n, Checker: set.Checker(n)})
		}
		entries = append(entries, blocker.Entry{Name: "alarms", Blocker: blocker.Alarms{Watch: watch, BlockInsufficientData: p.Blockers.BlockInsufficientData}})
	}
	if len(entries) > 0 {
		cfg.Blockers = rollout.BlockerSet{Set: blocker.Set{Entries: entries}, Service: service}
	}
	return cfg, nil
}

// joinErrs joins errs, nil when there are none.
func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}
