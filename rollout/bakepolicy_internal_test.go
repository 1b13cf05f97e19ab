// This file is internal (package rollout): It tests the unexported (*index).stageBake, which merges the plan's bake
// durations with the bake policy.
// The other tests of this area are in the external test package.

package rollout

import (
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/wave"
)

// "Final" means one thing: the bake after the last stage. The stages of
// the last wave are a later wave's.
func TestStageBakeFinal(t *testing.T) {
	ev := func(q string) []bake.Requirement { return []bake.Requirement{{Query: q, Min: 1}} }
	p := Policy{Bake: bake.Schedule{
		OneBox:     bake.Policy{Evidence: ev("one-box")},
		FirstWave:  bake.Policy{Evidence: ev("first")},
		LaterWaves: bake.Policy{Evidence: ev("later")},
		Final:      bake.Policy{Evidence: ev("final")},
	}}
	d := duration.Duration(time.Hour)
	tests := []struct {
		wave int
		kind wave.StageKind
		want string
	}{
		{0, wave.OneBox, "one-box"},
		{0, wave.Zone, "first"},
		{1, wave.Zone, "later"},
		{3, wave.Region, "later"}, // the last of four waves
		{3, "", "final"},          // the final bake
		{3, KindFinal, "final"},   // the final bake's stage
	}
	for _, tt := range tests {
		bp, ok := p.stageBake(tt.wave, tt.kind, d)
		if !ok || bp.MinDuration != d || len(bp.Evidence) != 1 || bp.Evidence[0].Query != tt.want {
			t.Errorf("stageBake(%d, %q) = %+v, %t; want the %s layer with the plan's %s", tt.wave, tt.kind, bp, ok, tt.want, d)
		}
	}
	if _, ok := p.stageBake(0, wave.Zone, 0); ok {
		t.Error("a stage the plan does not bake bakes")
	}
}
