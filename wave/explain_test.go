package wave

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// awsFleet is 6 regions x 3 zones x 10 hosts, each region's hosts
// weighted by its traffic.
func awsFleet() []Target {
	regions := []struct {
		name, short string
		weight      float64
	}{
		{"us-east-1", "use1", 10},
		{"us-west-2", "usw2", 6},
		{"eu-west-1", "euw1", 5},
		{"eu-central-1", "euc1", 3},
		{"ap-southeast-2", "apse2", 2},
		{"sa-east-1", "sae1", 1},
	}
	var ts []Target
	for _, r := range regions {
		for z := 1; z <= 3; z++ {
			zone := fmt.Sprintf("%s-az%d", r.short, z)
			for h := 1; h <= 10; h++ {
				ts = append(ts, Target{
					ID:       fmt.Sprintf("%s-h%02d", zone, h),
					Location: []string{r.name, zone},
					Weight:   r.weight,
				})
			}
		}
	}
	return ts
}

// TestExplainGolden compares Plan.Explain for an AWS-shaped fleet with
// testdata/explain-6x3x10.golden; run with -update to rewrite it after an
// intended change, and review the diff like any other.
func TestExplainGolden(t *testing.T) {
	p, err := Policy{}.Plan(awsFleet())
	if err != nil {
		t.Fatal(err)
	}
	got := p.Explain()
	path := filepath.Join("testdata", "explain-6x3x10.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestExplainGolden -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("Explain() (-want +got):\n%s", diff)
	}
}

func TestExplainExclusionsWarningsAndNotes(t *testing.T) {
	ts := append(awsFleet(), Target{ID: "tiny", Location: []string{"local-1", "loc1-az1"}})
	p, err := Policy{
		Exclude: Exclusion{IDs: []string{"use1-az1-h01", "use1-az1-h02", "gone"}},
		Waves:   Sizing{MaxParallelRegions: 2},
	}.Plan(ts)
	if err != nil {
		t.Fatal(err)
	}
	got := p.Explain()
	for _, want := range []string{
		"Plan: 179 targets in 7 regions, 4 waves, 13 stages; levels region > zone.\n",
		"Excluded (2): use1-az1-h01, use1-az1-h02\n",
		"deploy time comes on top.\n\nWarnings (1):\n  ! region local-1 has no target light enough for a one-box: its lightest carries 100% of the region's weight, above OneBox.MaxFraction (10%); its first batch is the first to see the change\n\nWave 1",
		"Notes:\n  - Exclude.IDs lists \"gone\", which is not in the fleet\n",
		"Wave 1: 1 region: local-1\n  Its zones deploy one at a time; its last stage bakes with the wave's bake, in place of a zone bake, before the next wave.\n",
		"Wave 4: 2 regions: us-west-2, us-east-1\n  Each stage deploys one zone of every region of the wave at once",
		"  1. w1/local-1/loc1-az1 (zone)\n     1 target (tiny)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Explain() lacks %q:\n%s", want, got)
		}
	}
}

func TestExplainWithNotes(t *testing.T) {
	ts := []Target{
		{ID: "a", Location: []string{"r1", "r1a", "h1"}},
		{ID: "b", Location: []string{"r1", "r1a", "h2"}},
	}
	p, err := Policy{OneBox: OneBoxRule{Off: true}}.Plan(ts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.ExplainWith(nil), p.Explain(); got != want {
		t.Errorf("ExplainWith(nil) differs from Explain:\n%s\n%s", got, want)
	}
	got := p.ExplainWith(func(st *Stage) string { return "note on " + st.Name + "\nsecond line\n" })
	for _, want := range []string{"     note on " + p.Waves[0].Stages[0].Name + "\n     second line\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("ExplainWith lacks %q:\n%s", want, got)
		}
	}
}
