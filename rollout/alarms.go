package rollout

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
)

// AlarmRules adapts alarm rules to [Alarms]: at each check, it
// evaluates against src the rules that rules returns for the stage in
// progress, so that a stage can be watched by fleet-wide alarms and by
// alarms scoped to its own targets (the one-box alarm). The rules of a
// stage are bound into one [alarm.Set] at its first check and kept, so
// that rules treating missing data with [alarm.Ignore] keep their state.
//
// A rule set that does not validate, and a source that fails, make the
// check fail: the driver counts it as unreadable (fail closed).
func AlarmRules(src alarm.Source, rules func(s Subject) []alarm.Rule) Alarms {
	w := &ruleWatch{src: src, rules: rules, sets: map[string]*alarm.Set{}}
	return AlarmsFunc(w.check)
}

// ruleWatch holds the sets of AlarmRules, one per rollout, version and
// stage.
type ruleWatch struct {
	src   alarm.Source
	rules func(s Subject) []alarm.Rule

	mu   sync.Mutex
	sets map[string]*alarm.Set
}

func (w *ruleWatch) check(ctx context.Context, s Subject, now time.Time) ([]alarm.Result, error) {
	key := s.Rollout + "\x00" + s.Version + "\x00" + s.Stage
	w.mu.Lock()
	set := w.sets[key]
	w.mu.Unlock()
	if set == nil {
		var err error
		set, err = alarm.NewSet(w.src, w.rules(s)...)
		if err != nil {
			return nil, fmt.Errorf("rollout: alarm rules of stage %q: %w", s.Stage, err)
		}
		w.mu.Lock()
		if cur := w.sets[key]; cur != nil {
			set = cur
		} else {
			w.sets[key] = set
		}
		w.mu.Unlock()
	}
	outs := set.CheckAll(ctx, now)
	res := make([]alarm.Result, 0, len(outs))
	for _, o := range outs {
		if o.Err != nil {
			return res, o.Err
		}
		res = append(res, o.Result)
	}
	return res, nil
}
