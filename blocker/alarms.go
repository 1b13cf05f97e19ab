package blocker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
)

// Alarm is a watched alarm and the name it goes by in reasons.
type Alarm struct {
	// Name names the alarm in reasons; empty means the name in the
	// checker's [alarm.Result], or "alarm N" by position.
	Name    string
	Checker alarm.Checker
}

// Alarms is a [Blocker] that blocks while any watched alarm is in ALARM, and
// also while one is in INSUFFICIENT_DATA when BlockInsufficientData is set
// (config-deployment services treat missing evidence that way).
//
// An alarm that cannot be evaluated is reported as an error, so a [Set]
// fails closed on it; an alarm in an unknown state is such an error too. The
// other alarms are still checked, and one already in ALARM blocks even if
// the entry fails open. Alarms never know when they will clear: Until is
// always zero.
//
// An Alarms with nothing to watch is a configuration mistake and is an
// error, not a silent clear.
type Alarms struct {
	Watch []Alarm
	// BlockInsufficientData also blocks on INSUFFICIENT_DATA.
	BlockInsufficientData bool
}

// Check evaluates every watched alarm at now.
func (a Alarms) Check(ctx context.Context, _ Subject, now time.Time) (Decision, error) {
	if len(a.Watch) == 0 {
		return Decision{}, fmt.Errorf("blocker: alarms: nothing to watch")
	}
	var reasons, fine []string
	var holds []Hold
	var errs []error
	for i, w := range a.Watch {
		name := w.Name
		if w.Checker == nil {
			if name == "" {
				name = fmt.Sprintf("alarm %d", i)
			}
			errs = append(errs, fmt.Errorf("blocker: alarm %q: no checker", name))
			continue
		}
		res, err := w.Checker.Check(ctx, now)
		if name == "" {
			name = res.Name
		}
		if name == "" {
			name = fmt.Sprintf("alarm %d", i)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("blocker: alarm %q: %w", name, err))
			continue
		}
		desc := name + " is " + res.State.String()
		if res.Reason != "" {
			desc += " (" + res.Reason + ")"
		}
		switch res.State {
		case alarm.Alarm:
			reasons = append(reasons, desc)
			holds = append(holds, Hold{Kind: HoldAlarm, Name: name})
		case alarm.InsufficientData:
			if a.BlockInsufficientData {
				reasons = append(reasons, desc)
				holds = append(holds, Hold{Kind: HoldAlarm, Name: name})
			} else {
				fine = append(fine, desc+", not blocking")
			}
		case alarm.OK:
			fine = append(fine, name+" is OK")
		default:
			errs = append(errs, fmt.Errorf("blocker: alarm %q: unknown state %s", name, res.State))
		}
	}
	err := errors.Join(errs...)
	if len(reasons) > 0 {
		return Decision{Blocked: true, Reason: strings.Join(reasons, "; "), Holds: holds}, err
	}
	return Decision{Reason: strings.Join(fine, "; ")}, err
}
