package bake

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/shepherd-go/shepherd/duration"
)

// Default minimum bakes of a [Schedule], from the published practice of the
// most careful operators: at least an hour after each one-box stage, at
// least 12 hours after the first regional wave, 2 to 4 hours after each
// later wave (the lower end: bake time should shrink as confidence grows).
const (
	DefaultOneBoxBake    = time.Hour
	DefaultFirstWaveBake = 12 * time.Hour
	DefaultLaterWaveBake = 2 * time.Hour
	// DefaultFinalBake is the bake after the last wave, when the change is
	// everywhere; it keeps the rollout eligible for automatic rollback for a
	// while. No figure is published; it defaults to the later-wave bake.
	// Raise it (up to a day is common) when problems tend to show late.
	DefaultFinalBake = DefaultLaterWaveBake
)

// Schedule chooses the bake policy of each stage of a rollout: longer early,
// shorter later, each wave overridable. The zero value is the published
// schedule with no evidence requirements and no alarms.
//
// The policy of a stage is built in layers, each non-zero field of a layer
// replacing the one below: Base, then the stage's class (OneBox, FirstWave,
// LaterWaves or Final), then Waves[i] for a stage of wave i that is not a
// one-box. A MinDuration still zero after that takes the class's default.
// An Evidence or Alarms list replaces the lower one entirely when it is not
// nil, so an explicit empty list in JSON ("evidence": []) clears it.
type Schedule struct {
	// Base holds what every stage shares: typically the watched alarms,
	// the evidence requirements and the consequences.
	Base Policy `json:"base,omitzero"`
	// OneBox is the bake after a one-box stage ([DefaultOneBoxBake]).
	OneBox Policy `json:"oneBox,omitzero"`
	// FirstWave is the bake after each stage of the first wave
	// ([DefaultFirstWaveBake]).
	FirstWave Policy `json:"firstWave,omitzero"`
	// LaterWaves is the bake after each stage of the waves between the
	// first and the last ([DefaultLaterWaveBake]).
	LaterWaves Policy `json:"laterWaves,omitzero"`
	// Final is the bake after each stage of the last wave of a plan with
	// more than one wave ([DefaultFinalBake]).
	Final Policy `json:"final,omitzero"`
	// Waves overrides the policy of the stages of a wave, by wave index
	// from 0 (one-box stages keep OneBox).
	Waves map[int]Policy `json:"waves,omitempty"`
}

// class is a layer of the schedule with its default minimum.
type class struct {
	name string
	p    Policy
	def  time.Duration
}

func (s Schedule) class(wave, waves int, oneBox bool) class {
	switch {
	case oneBox:
		return class{"OneBox", s.OneBox, DefaultOneBoxBake}
	case wave <= 0:
		return class{"FirstWave", s.FirstWave, DefaultFirstWaveBake}
	case wave >= waves-1:
		return class{"Final", s.Final, DefaultFinalBake}
	}
	return class{"LaterWaves", s.LaterWaves, DefaultLaterWaveBake}
}

// For returns the bake policy of a stage of wave wave (from 0) in a plan of
// waves waves; oneBox says the stage is a one-box stage. A wave index below
// 0 counts as the first wave, and one at or beyond the last as the last.
// The first wave of a plan takes FirstWave even when it is also the last.
//
// The returned policy has the class's default MinDuration filled in; its
// other zero fields keep [Policy]'s defaults.
func (s Schedule) For(wave, waves int, oneBox bool) Policy {
	c := s.class(wave, waves, oneBox)
	p := overlay(s.Base, c.p)
	if o, ok := s.Waves[wave]; ok && !oneBox {
		p = overlay(p, o)
	}
	if p.MinDuration == 0 {
		p.MinDuration = duration.Duration(c.def)
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
// path (for example "bake: schedule: FirstWave.Evidence[0].Query: empty").
// Besides each layer's own fields it checks the policies in effect: a Base
// MaxDuration of 1h is reported against the 12h first-wave default.
func (s Schedule) Validate() error {
	ps := problems{in: "schedule"}
	s.Base.fields(&ps, "Base")
	classes := []class{
		{"OneBox", s.OneBox, DefaultOneBoxBake},
		{"FirstWave", s.FirstWave, DefaultFirstWaveBake},
		{"LaterWaves", s.LaterWaves, DefaultLaterWaveBake},
		{"Final", s.Final, DefaultFinalBake},
	}
	for _, c := range classes {
		c.p.fields(&ps, c.name)
	}
	waves := slices.Sorted(maps.Keys(s.Waves))
	for _, w := range waves {
		at := "Waves[" + strconv.Itoa(w) + "]"
		if w < 0 {
			ps.add(at, "wave index %d is negative", w)
		}
		s.Waves[w].fields(&ps, at)
	}
	// The policies in effect, with the class defaults filled in.
	for _, c := range classes {
		p := overlay(s.Base, c.p)
		if p.MinDuration == 0 {
			p.MinDuration = duration.Duration(c.def)
		}
		p.bounds(&ps, c.name, " (in effect)")
	}
	for _, w := range waves {
		at := "Waves[" + strconv.Itoa(w) + "]"
		// A wave after the first is a later wave or the final one,
		// depending on the plan's length: check both.
		cs := []class{classes[1]}
		if w > 0 {
			cs = []class{classes[2], classes[3]}
		}
		for _, c := range cs {
			p := overlay(overlay(s.Base, c.p), s.Waves[w])
			if p.MinDuration == 0 {
				p.MinDuration = duration.Duration(c.def)
			}
			p.bounds(&ps, at, " (in effect as "+c.name+")")
		}
	}
	return ps.err()
}
