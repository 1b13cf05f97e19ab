package bake

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/wave"
)

// Schedule chooses the bake policy of each stage of a rollout: the
// evidence, the watched alarms, the maximum duration and the consequences,
// each class of stage and each wave overridable. The zero value bakes on
// time and alarms alone and rolls back an inconclusive bake.
//
// How long a stage bakes at least is the planner's to say: a rollout bakes
// each stage for its plan's [wave.Stage.Bake] and the final bake for
// [wave.Plan.FinalBake], and its driver rejects a schedule that sets a
// MinDuration (rollout.Policy.Validate). Used on its own, without a plan,
// a schedule's MinDuration that is still zero after the layers takes the
// planner's published default for the class ([wave.DefaultOneBoxBake],
// [wave.DefaultFirstWaveBake], [wave.DefaultLaterWaveBake],
// [wave.DefaultFinalBake]): those constants are the only copy of the
// published numbers.
//
// The policy of a stage is built in layers, each non-zero field of a layer
// replacing the one below: Base, then the stage's class (OneBox, FirstWave
// or LaterWaves), then Waves[i] for a stage of wave i that is not a
// one-box. The final bake, after the last stage, takes Base then Final. An
// Evidence or Alarms list replaces the lower one entirely when it is not
// nil, so an explicit empty list in JSON ("evidence": []) clears it.
type Schedule struct {
	// Base holds what every stage shares: typically the watched alarms,
	// the evidence requirements and the consequences.
	Base Policy `json:"base,omitzero"`
	// OneBox is the bake after a one-box stage.
	OneBox Policy `json:"oneBox,omitzero"`
	// FirstWave is the bake after each stage of the first wave.
	FirstWave Policy `json:"firstWave,omitzero"`
	// LaterWaves is the bake after each stage of every later wave, the
	// last one included.
	LaterWaves Policy `json:"laterWaves,omitzero"`
	// Final is the final bake: the watch after the last stage, while the
	// change is everywhere and still rolled back on alarm
	// ([wave.Plan.FinalBake]). It is the only meaning of "final" in a
	// rollout.
	Final Policy `json:"final,omitzero"`
	// Waves overrides the policy of the stages of a wave, by wave index
	// from 0 (one-box stages keep OneBox, and the final bake Final).
	Waves map[int]Policy `json:"waves,omitempty"`
}

// class is a layer of the schedule with its default minimum.
type class struct {
	name string
	p    Policy
	def  time.Duration
}

func (s Schedule) class(w int, oneBox bool) class {
	switch {
	case oneBox:
		return class{"OneBox", s.OneBox, wave.DefaultOneBoxBake}
	case w <= 0:
		return class{"FirstWave", s.FirstWave, wave.DefaultFirstWaveBake}
	}
	return class{"LaterWaves", s.LaterWaves, wave.DefaultLaterWaveBake}
}

func (s Schedule) final() class { return class{"Final", s.Final, wave.DefaultFinalBake} }

// For returns the bake policy of a stage of wave w (from 0); oneBox says
// the stage is a one-box stage. A wave index below 0 counts as the first
// wave. The final bake has its own policy ([Schedule.ForFinal]).
//
// The returned policy has the class's default MinDuration filled in (see
// [Schedule]); a driver with a plan replaces it with the stage's bake. Its
// other zero fields keep [Policy]'s defaults.
func (s Schedule) For(w int, oneBox bool) Policy {
	c := s.class(w, oneBox)
	p := overlay(s.Base, c.p)
	if o, ok := s.Waves[w]; ok && !oneBox {
		p = overlay(p, o)
	}
	return withMin(p, c.def)
}

// ForFinal returns the policy of the final bake: Base, then Final, with
// [wave.DefaultFinalBake] as the default MinDuration.
func (s Schedule) ForFinal() Policy {
	c := s.final()
	return withMin(overlay(s.Base, c.p), c.def)
}

func withMin(p Policy, def time.Duration) Policy {
	if p.MinDuration == 0 {
		p.MinDuration = duration.Duration(def)
	}
	return p
}

// overlay returns base with every non-zero field of top in its place.
func overlay(base, top Policy) Policy {
	if top.MinDuration != 0 {
		base.MinDuration = top.MinDuration
	}
	if top.MaxDuration != 0 {
		base.MaxDuration = top.MaxDuration
	}
	if top.Evidence != nil {
		base.Evidence = top.Evidence
	}
	if top.Alarms != nil {
		base.Alarms = top.Alarms
	}
	if top.OnInconclusive != "" {
		base.OnInconclusive = top.OnInconclusive
	}
	if top.OnInsufficientData != "" {
		base.OnInsufficientData = top.OnInsufficientData
	}
	if top.PollInterval != 0 {
		base.PollInterval = top.PollInterval
	}
	if top.MaxReadErrors != 0 {
		base.MaxReadErrors = top.MaxReadErrors
	}
	return base
}

// Validate reports every problem with s, each as a [*FieldError] with its
// path (for example "bake: FirstWave.Evidence[0].Query: empty"). Besides
// each layer's own fields ([Schedule.ValidateFields]) it checks the
// policies in effect when the schedule is used on its own: a Base
// MaxDuration of 1h is reported against the 12h first-wave default.
func (s Schedule) Validate() error {
	var ps problems
	s.fields(&ps)
	classes := []class{s.class(0, true), s.class(0, false), s.class(1, false), s.final()}
	// The policies in effect, with the class defaults filled in.
	for _, c := range classes {
		withMin(overlay(s.Base, c.p), c.def).bounds(&ps, c.name, " (in effect)")
	}
	for _, w := range slices.Sorted(maps.Keys(s.Waves)) {
		c := s.class(w, false)
		p := withMin(overlay(overlay(s.Base, c.p), s.Waves[w]), c.def)
		p.bounds(&ps, "Waves["+strconv.Itoa(w)+"]", " (in effect as "+c.name+")")
	}
	return ps.err()
}

// ValidateFields reports the problems of each layer's fields on their own,
// each as a [*FieldError], without comparing durations across layers or
// with defaults. It is the check for a schedule whose minimum durations
// come from elsewhere: a driver whose plan sets them (rollout) compares
// the maximum durations with the plan's bakes itself.
func (s Schedule) ValidateFields() error {
	var ps problems
	s.fields(&ps)
	return ps.err()
}

func (s Schedule) fields(ps *problems) {
	s.Base.fields(ps, "Base")
	s.OneBox.fields(ps, "OneBox")
	s.FirstWave.fields(ps, "FirstWave")
	s.LaterWaves.fields(ps, "LaterWaves")
	s.Final.fields(ps, "Final")
	for _, w := range slices.Sorted(maps.Keys(s.Waves)) {
		at := "Waves[" + strconv.Itoa(w) + "]"
		if w < 0 {
			ps.add(at, "wave index %d is negative", w)
		}
		s.Waves[w].fields(ps, at)
	}
}
