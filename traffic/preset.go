package traffic

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/field"
)

// The presets below expand the published schedules of other tools into
// explicit steps, so that a team moving from one of them keeps its
// timings and can read, diff and change every step. Each expansion is
// pinned by a golden test against the source's documented semantics.

// CodeDeployCanary is CodeDeploy's time-based canary: percent of the
// traffic, then, after wait, all of it (two increments).
func CodeDeployCanary(percent float64, wait time.Duration) Schedule {
	return Schedule{Steps: []Step{Weight(percent), Hold(wait), Weight(100)}}
}

// CodeDeployLinear is CodeDeploy's time-based linear configuration:
// percent more of the traffic every interval until all of it (10% every
// minute reaches 100% nine minutes after the first 10%).
func CodeDeployLinear(percent float64, every time.Duration) Schedule {
	var s Schedule
	if !(percent > 0) {
		return Schedule{Steps: []Step{Weight(percent)}} // Validate says why
	}
	for i := 1; ; i++ {
		w := min(100, float64(i)*percent)
		if i > 1 {
			s.Steps = append(s.Steps, Hold(every))
		}
		s.Steps = append(s.Steps, Weight(w))
		if w >= 100 {
			return s
		}
	}
}

// CodeDeployAllAtOnce shifts all the traffic at once.
func CodeDeployAllAtOnce() Schedule { return Schedule{Steps: []Step{Weight(100)}} }

// GrowthType is AppConfig's growth: linear or exponential.
type GrowthType string

// AppConfig's growth types.
const (
	Linear      GrowthType = "linear"
	Exponential GrowthType = "exponential"
)

// AppConfig is an AppConfig deployment strategy. Its steps are spread
// evenly over Duration, the first one interval after the start (AppConfig
// documents a 10-hour linear deployment at 20% as 0% at 0h, 20% at 2h, ...
// 100% at 10h), and the final bake follows the last one.
type AppConfig struct {
	// Growth is linear (Factor more at each step) or exponential (step N,
	// from 0, reaches Factor*2^N percent, as AppConfig's G*(2^N)).
	Growth GrowthType `json:"growth"`
	// Factor is the step percentage (AppConfig's growth factor), in
	// (0, 100].
	Factor float64 `json:"factor"`
	// Duration is the whole deployment's time (0 to 24h).
	Duration duration.Duration `json:"duration,omitzero"`
	// FinalBake is the watch after 100% during which an alarm still rolls
	// back (0 to 24h, AppConfig's 0-1440 minutes).
	FinalBake duration.Duration `json:"finalBake,omitzero"`
}

// Shares returns the shares AppConfig reaches, in order, the last one 100.
func (a AppConfig) Shares() []float64 {
	var out []float64
	if !(a.Factor > 0) || math.IsInf(a.Factor, 0) {
		return nil
	}
	for n := 0; ; n++ {
		var w float64
		if a.Growth == Exponential {
			w = a.Factor * math.Pow(2, float64(n))
		} else {
			w = a.Factor * float64(n+1)
		}
		w = min(w, 100)
		out = append(out, w)
		if w >= 100 {
			return out
		}
	}
}

// Schedule expands the strategy: for each share, a hold of Duration/steps
// then the share; then a bake of FinalBake.
func (a AppConfig) Schedule() (Schedule, error) {
	var l field.List
	if a.Growth != Linear && a.Growth != Exponential {
		l.Add(ErrInvalid, "Growth", "unknown %q (want %q or %q)", a.Growth, Linear, Exponential)
	}
	if !(a.Factor > 0 && a.Factor <= 100) {
		l.Add(ErrInvalid, "Factor", "%v is outside (0, 100]", a.Factor)
	}
	if a.Duration < 0 || a.Duration.Std() > 24*time.Hour {
		l.Add(ErrInvalid, "Duration", "%s is outside [0, 24h]", a.Duration)
	}
	if a.FinalBake < 0 || a.FinalBake.Std() > 24*time.Hour {
		l.Add(ErrInvalid, "FinalBake", "%s is outside [0, 24h] (AppConfig's 0-1440 minutes)", a.FinalBake)
	}
	if err := l.Err(); err != nil {
		return Schedule{}, err
	}
	shares := a.Shares()
	every := a.Duration.Std() / time.Duration(len(shares))
	var s Schedule
	for _, w := range shares {
		if every > 0 {
			s.Steps = append(s.Steps, Hold(every))
		}
		s.Steps = append(s.Steps, Weight(w))
	}
	if a.FinalBake > 0 {
		s.Steps = append(s.Steps, BakeFor(a.FinalBake.Std()))
	}
	return s, nil
}

// ArgoStep is one step of an Argo Rollouts canary: exactly one of
// SetWeight, Pause and Analysis.
type ArgoStep struct {
	// SetWeight sets the canary's share.
	SetWeight *float64 `json:"setWeight,omitempty"`
	// Pause waits for Duration, or, with no duration, until promoted.
	Pause *ArgoPause `json:"pause,omitempty"`
	// Analysis runs an inline analysis: Successful goes on, Failed
	// aborts (here: the judge's fail rolls back; an inconclusive verdict
	// never promotes).
	Analysis *ArgoAnalysis `json:"analysis,omitempty"`
}

// ArgoPause is an Argo Rollouts pause step.
type ArgoPause struct {
	// Duration is how long to wait; zero waits until promoted.
	Duration duration.Duration `json:"duration,omitzero"`
}

// ArgoAnalysis is an Argo Rollouts inline analysis step. Its templates are
// the canary judge's business here.
type ArgoAnalysis struct {
	// Templates name the analysis templates, for the reader.
	Templates []string `json:"templates,omitempty"`
}

// Argo expands an Argo Rollouts step list: setWeight is a weight, a pause
// with a duration a timed hold, a pause without one a hold until approval,
// an analysis a judge; and, as Argo Rollouts promotes the canary fully
// once the steps are done, a final weight of 100% when the last weight is
// lower. Argo allows any order of weights, so a list that lowers one
// gives a schedule that allows decreases.
func Argo(steps []ArgoStep) (Schedule, error) {
	var l field.List
	var s Schedule
	hi := 0.0
	for i, a := range steps {
		p := fmt.Sprintf("steps[%d]", i)
		n := 0
		if a.SetWeight != nil {
			n++
			w := *a.SetWeight
			s.Steps = append(s.Steps, Weight(w))
			if w < hi {
				s.AllowDecrease = true
			}
			hi = max(hi, w)
		}
		if a.Pause != nil {
			n++
			switch {
			case a.Pause.Duration < 0:
				l.Add(ErrInvalid, p+".pause.duration", "%s is negative", a.Pause.Duration)
			case a.Pause.Duration == 0:
				s.Steps = append(s.Steps, HoldForApproval())
			default:
				s.Steps = append(s.Steps, Hold(a.Pause.Duration.Std()))
			}
		}
		if a.Analysis != nil {
			n++
			s.Steps = append(s.Steps, Judge())
		}
		if n != 1 {
			l.Add(ErrInvalid, p, "%d of setWeight, pause and analysis: a step has exactly one", n)
		}
	}
	if err := l.Err(); err != nil {
		return Schedule{}, err
	}
	if s.Final() != 100 {
		s.Steps = append(s.Steps, Weight(100))
	}
	return s, field.Prefix("argo", s.Validate())
}

// DefaultFlaggerInterval is Flagger's analysis interval when none is given.
const DefaultFlaggerInterval = time.Minute

// Flagger is a Flagger canary analysis: linear (StepWeight up to
// MaxWeight), explicit StepWeights, or Iterations (A/B testing with Match,
// blue/green without). Each weight is held for one Interval, the analysis
// tick; promotion follows the tick at the last weight.
type Flagger struct {
	// Interval is the analysis tick. Zero means [DefaultFlaggerInterval].
	Interval duration.Duration `json:"interval,omitzero"`
	// StepWeight is the increment of a linear analysis.
	StepWeight float64 `json:"stepWeight,omitempty"`
	// MaxWeight is where a linear analysis stops and promotes. Zero means
	// 100. Like Flagger, the last increment may pass it (step 20, max 50:
	// 20, 40, 60), capped at 100; promotion follows once the weight is at
	// or past it (the fix of Flagger's PR 190: before it, a maximum that
	// was not a multiple of the step reported success without promoting).
	MaxWeight float64 `json:"maxWeight,omitempty"`
	// StepWeights are the weights of a non-linear analysis, in order.
	StepWeights []float64 `json:"stepWeights,omitempty"`
	// Iterations is the number of ticks of an A/B or blue/green analysis.
	Iterations int `json:"iterations,omitempty"`
	// Match routes matching requests to the new version during the
	// iterations (A/B testing).
	Match []Match `json:"match,omitempty"`
}

// Schedule expands the analysis.
func (f Flagger) Schedule() (Schedule, error) {
	var l field.List
	modes := 0
	if f.StepWeight != 0 || f.MaxWeight != 0 {
		modes++
	}
	if len(f.StepWeights) > 0 {
		modes++
	}
	if f.Iterations != 0 || len(f.Match) > 0 {
		modes++
	}
	if modes != 1 {
		l.Add(ErrInvalid, "", "give exactly one of stepWeight (with maxWeight), stepWeights and iterations")
	}
	if f.Interval < 0 {
		l.Add(ErrInvalid, "Interval", "%s is negative", f.Interval)
	}
	if f.StepWeight != 0 && !(f.StepWeight > 0 && f.StepWeight <= 100) {
		l.Add(ErrInvalid, "StepWeight", "%v is outside (0, 100]", f.StepWeight)
	}
	if modes == 1 && (f.StepWeight != 0 || f.MaxWeight != 0) && f.StepWeight == 0 {
		l.Add(ErrInvalid, "StepWeight", "zero: a linear analysis needs a step")
	}
	if f.MaxWeight != 0 && !(f.MaxWeight > 0 && f.MaxWeight <= 100) {
		l.Add(ErrInvalid, "MaxWeight", "%v is outside (0, 100]", f.MaxWeight)
	}
	for i, w := range f.StepWeights {
		if !(w > 0 && w <= 100) {
			l.Add(ErrInvalid, fmt.Sprintf("StepWeights[%d]", i), "%v is outside (0, 100]", w)
		}
	}
	if f.Iterations < 0 || (len(f.Match) > 0 && f.Iterations == 0) {
		l.Add(ErrInvalid, "Iterations", "%d: A/B testing needs at least one iteration", f.Iterations)
	}
	if err := l.Err(); err != nil {
		return Schedule{}, err
	}
	tick := Hold(cmpDur(f.Interval.Std(), DefaultFlaggerInterval))
	var s Schedule
	switch {
	case f.Iterations > 0:
		if len(f.Match) > 0 {
			s.Steps = append(s.Steps, MatchRequests(f.Match...))
		}
		for range f.Iterations {
			s.Steps = append(s.Steps, tick)
		}
		s.Steps = append(s.Steps, Weight(100))
		if len(f.Match) > 0 {
			s.Steps = append(s.Steps, MatchRequests())
		}
	case len(f.StepWeights) > 0:
		if !slices.IsSorted(f.StepWeights) {
			s.AllowDecrease = true
		}
		for _, w := range f.StepWeights {
			s.Steps = append(s.Steps, Weight(w), tick)
		}
		s.Steps = append(s.Steps, Weight(100))
	default:
		maxW := f.MaxWeight
		if maxW == 0 {
			maxW = 100
		}
		for w := 0.0; w < maxW; {
			w = min(w+f.StepWeight, 100)
			s.Steps = append(s.Steps, Weight(w), tick)
		}
		if s.Final() != 100 {
			s.Steps = append(s.Steps, Weight(100))
		}
	}
	return s, s.Validate()
}

// CloudDeploy is a Cloud Deploy canary: phases at ascending Percentages
// (each in [0, 100), whole numbers), then the stable phase at 100%, each
// phase optionally verified. Cloud Deploy waits at each phase until the
// rollout is advanced, by a human or an automation rule.
type CloudDeploy struct {
	// Percentages are the canary phases' shares, ascending.
	Percentages []float64 `json:"percentages"`
	// Verify runs the verification after each phase, the stable one
	// included.
	Verify bool `json:"verify,omitempty"`
	// Advance is how long an automation waits before it advances a
	// phase. Zero: each phase waits for a human (gcloud deploy rollouts
	// advance), a hold until approval.
	Advance duration.Duration `json:"advance,omitzero"`
}

// Schedule expands the canary.
func (c CloudDeploy) Schedule() (Schedule, error) {
	var l field.List
	if len(c.Percentages) == 0 {
		l.Add(ErrInvalid, "Percentages", "empty")
	}
	for i, p := range c.Percentages {
		path := fmt.Sprintf("Percentages[%d]", i)
		switch {
		case !(p >= 0 && p < 100):
			l.Add(ErrInvalid, path, "%v is outside [0, 100)", p)
		case p != math.Trunc(p):
			l.Add(ErrInvalid, path, "%v is not a whole percentage", p)
		case i > 0 && p <= c.Percentages[i-1]:
			l.Add(ErrInvalid, path, "%v does not ascend from %v", p, c.Percentages[i-1])
		}
	}
	if c.Advance < 0 {
		l.Add(ErrInvalid, "Advance", "%s is negative", c.Advance)
	}
	if err := l.Err(); err != nil {
		return Schedule{}, err
	}
	advance := HoldForApproval()
	if c.Advance > 0 {
		advance = Hold(c.Advance.Std())
	}
	var s Schedule
	for _, p := range c.Percentages {
		s.Steps = append(s.Steps, Weight(p))
		if c.Verify {
			s.Steps = append(s.Steps, Verify())
		}
		s.Steps = append(s.Steps, advance)
	}
	s.Steps = append(s.Steps, Weight(100))
	if c.Verify {
		s.Steps = append(s.Steps, Verify())
	}
	return s, s.Validate()
}

// BlueGreen is a blue/green switch: verify the new set while it serves
// nothing, switch all the traffic to it, keep the previous set for window
// (a rollback switches back in one call), then retire the previous set.
func BlueGreen(window time.Duration) Schedule {
	steps := []Step{Verify(), Weight(100)}
	if window > 0 {
		steps = append(steps, Hold(window))
	}
	return Schedule{Steps: append(steps, Retire())}
}

// presets are the named schedules of [Preset].
var presets = map[string]func() (Schedule, error){
	"CodeDeployDefault.LambdaAllAtOnce":                     func() (Schedule, error) { return CodeDeployAllAtOnce(), nil },
	"CodeDeployDefault.LambdaCanary10Percent5Minutes":       func() (Schedule, error) { return CodeDeployCanary(10, 5*time.Minute), nil },
	"CodeDeployDefault.LambdaCanary10Percent10Minutes":      func() (Schedule, error) { return CodeDeployCanary(10, 10*time.Minute), nil },
	"CodeDeployDefault.LambdaCanary10Percent15Minutes":      func() (Schedule, error) { return CodeDeployCanary(10, 15*time.Minute), nil },
	"CodeDeployDefault.LambdaCanary10Percent30Minutes":      func() (Schedule, error) { return CodeDeployCanary(10, 30*time.Minute), nil },
	"CodeDeployDefault.LambdaLinear10PercentEvery1Minute":   func() (Schedule, error) { return CodeDeployLinear(10, time.Minute), nil },
	"CodeDeployDefault.LambdaLinear10PercentEvery2Minutes":  func() (Schedule, error) { return CodeDeployLinear(10, 2*time.Minute), nil },
	"CodeDeployDefault.LambdaLinear10PercentEvery3Minutes":  func() (Schedule, error) { return CodeDeployLinear(10, 3*time.Minute), nil },
	"CodeDeployDefault.LambdaLinear10PercentEvery10Minutes": func() (Schedule, error) { return CodeDeployLinear(10, 10*time.Minute), nil },
	"AppConfig.AllAtOnce":                                   appConfig(Linear, 100, 0, 10*time.Minute),
	"AppConfig.Linear50PercentEvery30Seconds":               appConfig(Linear, 50, time.Minute, time.Minute),
	"AppConfig.Linear20PercentEvery6Minutes":                appConfig(Linear, 20, 30*time.Minute, 30*time.Minute),
	"AppConfig.Canary10Percent20Minutes":                    appConfig(Exponential, 10, 20*time.Minute, 10*time.Minute),
}

func appConfig(g GrowthType, factor float64, d, bake time.Duration) func() (Schedule, error) {
	return AppConfig{Growth: g, Factor: factor, Duration: duration.Duration(d), FinalBake: duration.Duration(bake)}.Schedule
}

// Preset returns the named schedule of CodeDeploy (for Lambda:
// "CodeDeployDefault.LambdaCanary10Percent5Minutes", also 10, 15 and 30
// minutes; "CodeDeployDefault.LambdaLinear10PercentEvery1Minute", also 2,
// 3 and 10 minutes; "CodeDeployDefault.LambdaAllAtOnce") or AppConfig
// ("AppConfig.AllAtOnce", "AppConfig.Linear50PercentEvery30Seconds",
// "AppConfig.Linear20PercentEvery6Minutes",
// "AppConfig.Canary10Percent20Minutes"). An unknown name is an error that
// lists the known ones.
func Preset(name string) (Schedule, error) {
	f, ok := presets[name]
	if !ok {
		return Schedule{}, fmt.Errorf("%w: unknown preset %q (known: %v)", ErrInvalid, name, Presets())
	}
	return f()
}

// Presets lists the names [Preset] knows, sorted.
func Presets() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func cmpDur(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
