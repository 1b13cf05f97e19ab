package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/field"
	"github.com/shepherd-go/shepherd/policyfile"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// errInvalid is wrapped by the problems of the command's own files.
var errInvalid = errors.New("shepherd: invalid file")

// fleetFile is a fleet: targets listed one by one, or hosts laid out over
// regions and zones (as rollouttest.Hosts does), or both.
type fleetFile struct {
	// Targets are targets listed one by one.
	Targets []wave.Target `json:"targets,omitempty"`
	// Hosts lays out hosts over regions and zones.
	Hosts *hostsFile `json:"hosts,omitempty"`
	// TimeZones gives regions' IANA time zones, for the daily traffic
	// curve of a simulated fleet.
	TimeZones map[string]string `json:"timeZones,omitempty"`
}

// hostsFile is rollouttest.Hosts as data.
type hostsFile struct {
	Regions []string `json:"regions"`
	Zones   int      `json:"zones"`
	PerZone int      `json:"perZone"`
	// Weights gives the weight of each host of a region (its share of
	// traffic); a region not here has hosts of weight 1.
	Weights map[string]float64 `json:"weights,omitempty"`
}

// targets returns the fleet's targets.
func (f *fleetFile) targets() ([]wave.Target, error) {
	ts := append([]wave.Target(nil), f.Targets...)
	if h := f.Hosts; h != nil {
		var l field.List
		if len(h.Regions) == 0 {
			l.Add(errInvalid, "fleet.hosts.regions", "empty")
		}
		if h.Zones < 1 || h.Zones > 26 {
			l.Add(errInvalid, "fleet.hosts.zones", "%d is outside 1-26", h.Zones)
		}
		if h.PerZone < 1 || h.PerZone > 10000 {
			l.Add(errInvalid, "fleet.hosts.perZone", "%d is outside 1-10000", h.PerZone)
		}
		if err := l.Err(); err != nil {
			return nil, err
		}
		for _, t := range rollouttest.Hosts(h.Regions, h.Zones, h.PerZone) {
			if w, ok := h.Weights[t.Location[0]]; ok {
				t.Weight = w
			}
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return nil, &field.Error{Path: "fleet", Problem: "no targets: list targets or lay out hosts", Err: errInvalid}
	}
	return ts, nil
}

// locations loads the fleet's time zones.
func (f *fleetFile) locations() (map[string]*time.Location, error) {
	locs := map[string]*time.Location{}
	var l field.List
	for r, z := range f.TimeZones {
		loc, err := time.LoadLocation(z)
		if err != nil {
			l.Add(errInvalid, fmt.Sprintf("fleet.timeZones[%q]", r), "unknown time zone %q", z)
			continue
		}
		locs[r] = loc
	}
	return locs, l.Err()
}

// scenarioFile is what simulate and test read: a policy, a fleet, how
// versions behave, and either one rollout to simulate (Version) or tests.
type scenarioFile struct {
	// Name names the scenario in reports.
	Name string `json:"name,omitempty"`
	// PolicyFile is a policy file, relative to the scenario file; Policy
	// is a policy written inline. At most one; neither means every
	// default.
	PolicyFile string             `json:"policyFile,omitempty"`
	Policy     *policyfile.Policy `json:"policy,omitempty"`
	// Fleet is the simulated fleet.
	Fleet fleetFile `json:"fleet"`
	// Initial is the version every target runs at the start; empty means
	// "v1".
	Initial string `json:"initial,omitempty"`
	// Versions says how versions behave once deployed; a version not
	// here is healthy.
	Versions map[string]behaviorFile `json:"versions,omitempty"`
	// Faults script what deploy and rollback calls suffer.
	Faults []faultFile `json:"faults,omitempty"`
	// DeployTime is how long every deploy takes; zero is instant.
	DeployTime duration.Duration `json:"deployTime,omitempty"`
	// Start is when the rollout starts; zero means
	// 2000-01-01T00:00:00Z (a Saturday).
	Start time.Time `json:"start,omitzero"`
	// Seed makes the traffic's noise reproducible.
	Seed uint64 `json:"seed,omitempty"`
	// Horizon bounds the simulated time; zero means 30 days.
	Horizon duration.Duration `json:"horizon,omitempty"`
	// Version is the version simulate rolls out, with Controls.
	Version  string        `json:"version,omitempty"`
	Controls []controlFile `json:"controls,omitempty"`
	// Tests are test's cases.
	Tests []testFile `json:"tests,omitempty"`

	dir string // the file's directory
}

// behaviorFile is rollouttest.Behavior as data.
type behaviorFile struct {
	ErrorRate   float64           `json:"errorRate,omitempty"`
	Latency     duration.Duration `json:"latency,omitempty"`
	Regressions []regressionFile  `json:"regressions,omitempty"`
}

// regressionFile is rollouttest.Regression as data.
type regressionFile struct {
	After     duration.Duration `json:"after,omitempty"`
	Regions   []string          `json:"regions,omitempty"`
	Zones     []string          `json:"zones,omitempty"`
	Targets   []string          `json:"targets,omitempty"`
	MinLoad   float64           `json:"minLoad,omitempty"`
	ErrorRate float64           `json:"errorRate,omitempty"`
	Latency   duration.Duration `json:"latency,omitempty"`
}

// faultFile is rollouttest.Fault as data.
type faultFile struct {
	Op         string   `json:"op,omitempty"`
	Version    string   `json:"version,omitempty"`
	Regions    []string `json:"regions,omitempty"`
	Zones      []string `json:"zones,omitempty"`
	Targets    []string `json:"targets,omitempty"`
	FailFirst  int      `json:"failFirst,omitempty"`
	FailAlways bool     `json:"failAlways,omitempty"`
	Permanent  bool     `json:"permanent,omitempty"`
}

// controlFile is a request a human makes during the run, After the start.
type controlFile struct {
	After  duration.Duration   `json:"after"`
	Kind   rollout.ControlKind `json:"kind"`
	Actor  string              `json:"actor,omitempty"`
	Stage  string              `json:"stage,omitempty"`
	Reason string              `json:"reason,omitempty"`
}

// testFile is one case of a test file: a version rolled out, and what
// must come of it.
type testFile struct {
	Name     string        `json:"name"`
	Version  string        `json:"version"`
	Controls []controlFile `json:"controls,omitempty"`
	Expect   expectation   `json:"expect"`
}

// expectation is what a test expects; every field left out is not
// checked.
type expectation struct {
	// Phase is the rollout's final phase: succeeded, rolled-back,
	// rollback-failed...
	Phase string `json:"phase,omitempty"`
	// Stage is the stage the rollout stopped in; "" (written) means it
	// promoted every stage.
	Stage *string `json:"stage,omitempty"`
	// Signal is why it stopped: alarm, canary, blocked...
	Signal string `json:"signal,omitempty"`
	// Blast bounds who the version reached.
	Blast *blastExpectation `json:"blast,omitempty"`
	// Running is how many targets run each version at the end.
	Running map[string]int `json:"running,omitempty"`
	// MaxDuration bounds how long the rollout took.
	MaxDuration duration.Duration `json:"maxDuration,omitempty"`
}

// blastExpectation bounds the blast radius.
type blastExpectation struct {
	// Targets is exactly how many targets ran the version.
	Targets *int `json:"targets,omitempty"`
	// MaxTargets is the most targets that may have run it.
	MaxTargets *int `json:"maxTargets,omitempty"`
	// MaxShare is the largest share of the fleet's requests it may have
	// served, in [0, 1].
	MaxShare *float64 `json:"maxShare,omitempty"`
}

// loadScenario reads a scenario or test file and its policy.
func loadScenario(path string) (*scenarioFile, *policyfile.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var s scenarioFile
	var l field.List
	if err := policyfile.Unmarshal(data, &s); err != nil {
		if errors.Is(err, policyfile.ErrSyntax) {
			return nil, nil, err
		}
		// Check what could be read as well: every problem at once.
		l.Merge(err)
	}
	s.dir = filepath.Dir(path)
	pol := s.Policy
	switch {
	case s.PolicyFile != "" && s.Policy != nil:
		l.Add(errInvalid, "policyFile", "set with policy: a scenario has one policy")
	case s.PolicyFile != "":
		p := s.PolicyFile
		if !filepath.IsAbs(p) {
			p = filepath.Join(s.dir, p)
		}
		pol, err = policyfile.Load(p)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				l.Add(errInvalid, "policyFile", "%v", err)
			} else {
				// The policy's problems, named in its own file.
				for _, e := range field.Flatten(err) {
					if fe, ok := e.(*field.Error); ok {
						c := *fe
						c.Path = strings.TrimSuffix(s.PolicyFile+": "+c.Path, ": ")
						e = &c
					}
					l.Merge(e)
				}
			}
		}
	case pol != nil:
		l.Merge(field.Prefix("policy", pol.Validate()))
	default:
		pol = &policyfile.Policy{}
	}
	for i, c := range s.Controls {
		l.Merge(field.Prefix(fmt.Sprintf("controls[%d]", i), c.validate()))
	}
	for i, tc := range s.Tests {
		p := fmt.Sprintf("tests[%d]", i)
		if tc.Version == "" {
			l.Add(errInvalid, p+".version", "empty: say which version the test rolls out")
		}
		for j, c := range tc.Controls {
			l.Merge(field.Prefix(fmt.Sprintf("%s.controls[%d]", p, j), c.validate()))
		}
	}
	if err := l.Err(); err != nil {
		return nil, nil, err
	}
	return &s, pol, nil
}

func (c controlFile) validate() error {
	var l field.List
	if c.After < 0 {
		l.Add(errInvalid, "after", "%s is negative", c.After)
	}
	switch c.Kind {
	case rollout.ControlPause, rollout.ControlResume, rollout.ControlAbort, rollout.ControlApprove, rollout.ControlSkipBake:
	default:
		l.Add(errInvalid, "kind", "%q is not pause, resume, abort, approve or skip-bake", c.Kind)
	}
	return l.Err()
}

// fleet builds the simulated fleet of a scenario.
func (s *scenarioFile) fleet() (*rollouttest.Fleet, error) {
	targets, err := s.Fleet.targets()
	if err != nil {
		return nil, err
	}
	locs, err := s.Fleet.locations()
	if err != nil {
		return nil, err
	}
	versions := map[string]rollouttest.Behavior{}
	for v, b := range s.Versions {
		rb := rollouttest.Behavior{ErrorRate: b.ErrorRate, Latency: b.Latency.Std()}
		for _, r := range b.Regressions {
			rb.Regressions = append(rb.Regressions, rollouttest.Regression{
				After: r.After.Std(), Regions: r.Regions, Zones: r.Zones, Targets: r.Targets,
				MinLoad: r.MinLoad, ErrorRate: r.ErrorRate, Latency: r.Latency.Std(),
			})
		}
		versions[v] = rb
	}
	var faults []rollouttest.Fault
	for _, f := range s.Faults {
		faults = append(faults, rollouttest.Fault{
			Op: rollouttest.Op(f.Op), Version: f.Version, Regions: f.Regions, Zones: f.Zones, Targets: f.Targets,
			FailFirst: f.FailFirst, FailAlways: f.FailAlways, Permanent: f.Permanent,
		})
	}
	initial := s.Initial
	if initial == "" {
		initial = "v1"
	}
	return rollouttest.NewFleet(rollouttest.Config{
		Targets:    targets,
		Initial:    initial,
		Versions:   versions,
		Faults:     faults,
		DeployTime: s.DeployTime.Std(),
		Traffic:    rollouttest.Traffic{Locations: locs},
		Seed:       s.Seed,
	})
}

// start is when the scenario starts.
func (s *scenarioFile) start() time.Time {
	if s.Start.IsZero() {
		return rollouttest.SimStart
	}
	return s.Start
}

// controls turns the file's requests into the simulator's.
func (s *scenarioFile) controls(cs []controlFile) []rollouttest.Control {
	var out []rollouttest.Control
	for _, c := range cs {
		actor := c.Actor
		if actor == "" {
			actor = "scenario"
		}
		out = append(out, rollouttest.Control{
			At:      s.start().Add(c.After.Std()),
			Control: rollout.Control{Kind: c.Kind, Actor: actor, Stage: c.Stage, Reason: c.Reason},
		})
	}
	return out
}
