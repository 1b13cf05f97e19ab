package rollouttest

import (
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
)

// Alarms is [rollout.AlarmRules]: alarm rules chosen per stage, evaluated
// against src (a [Fleet] for its queries, with [CanaryRules]).
func Alarms(src alarm.Source, rules func(s rollout.Subject) []alarm.Rule) rollout.Alarms {
	return rollout.AlarmRules(src, rules)
}

// CanaryRules are alarm rules over a [Fleet]'s queries for the stage s,
// the rules a careful team starts from. Every rule has a period of one
// minute and alarms when 3 of the last 5 datapoints breach:
//
//   - "fleet-errors": the whole fleet's error rate above 2%;
//   - "change-errors": the error rate of the change (every target while it
//     runs s.Version) above twice the rest of the fleet's, and by more
//     than one point (one error in a hundred requests);
//   - "change-latency": the change's p99 latency above 1.5 times the rest
//     of the fleet's, and by more than 50ms;
//   - "change-errors/<zone>": the change's error rate in each zone of the
//     stage against the rest of the fleet, so that a regression confined
//     to one zone is not diluted by the healthy ones.
//
// The change's rules compare it with its baseline only when both served
// at least 100 requests in a minute; missing data does not breach them,
// because once the change is everywhere there is no baseline left (the
// fleet-wide rule still watches). In the one-box stage "the change" is the
// one box alone: that is the one-box alarm.
func CanaryRules(s rollout.Subject) []alarm.Rule {
	ev := func(missing alarm.Treatment, minSamples int64) alarm.Evaluation {
		return alarm.Evaluation{
			Period:            duration.Duration(time.Minute),
			EvaluationPeriods: 5,
			DatapointsToAlarm: 3,
			TreatMissingData:  missing,
			MinSamples:        minSamples,
		}
	}
	v := quote(s.Version)
	rules := []alarm.Rule{
		{Name: "fleet-errors", Threshold: &alarm.Threshold{
			Query: "error_rate", Comparison: alarm.GreaterThan, Threshold: 0.02,
			Evaluation: ev(alarm.Missing, 0),
		}},
		{Name: "change-errors", Relative: &alarm.Relative{
			Query:    "error_rate{version=" + v + "}",
			Baseline: "error_rate{version!=" + v + "}",
			Ratio:    2, Difference: 0.01,
			Evaluation: ev(alarm.NotBreaching, 100),
		}},
		{Name: "change-latency", Relative: &alarm.Relative{
			Query:    "latency_p99_seconds{version=" + v + "}",
			Baseline: "latency_p99_seconds{version!=" + v + "}",
			Ratio:    1.5, Difference: 0.05,
			Evaluation: ev(alarm.NotBreaching, 100),
		}},
	}
	seen := map[string]bool{}
	for _, z := range s.Zones {
		if z == "" || seen[z] {
			continue
		}
		seen[z] = true
		rules = append(rules, alarm.Rule{Name: "change-errors/" + z, Relative: &alarm.Relative{
			Query:    "error_rate{version=" + v + ",zone=" + quote(z) + "}",
			Baseline: "error_rate{version!=" + v + "}",
			Ratio:    2, Difference: 0.01,
			Evaluation: ev(alarm.NotBreaching, 100),
		}})
	}
	return rules
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, "") + `"`
}
