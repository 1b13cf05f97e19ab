package wave

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestShapes plans fleets that are not shaped like AWS.
func TestShapes(t *testing.T) {
	tests := []struct {
		name    string
		policy  Policy
		targets []Target
		want    []string // shape(plan)
		noBox   int      // warnings of regions without a one-box
	}{
		{
			// Rings: a canary ring, early adopters, everyone, one ring
			// per wave, in the order of their size.
			name:   "rings",
			policy: Policy{Levels: []string{"ring"}, Waves: Sizing{Growth: 1}},
			targets: concat(
				hosts("canary", nil, 2, 1),
				hosts("early-adopters", nil, 20, 1),
				hosts("everyone", nil, 100, 1),
			),
			want: []string{
				"0 w1/canary region [1 1] min=1 bake=12h0m0s",
				"1 w2/one-box/early-adopters one-box [1] min=0 bake=1h0m0s",
				"1 w2/early-adopters region [6 6 6 1] min=13 bake=2h0m0s",
				"2 w3/one-box/everyone one-box [1] min=0 bake=1h0m0s",
				"2 w3/everyone region [33 33 33] min=66 bake=2h0m0s",
			},
			noBox: 1, // the canary ring is too small for a one-box
		},
		{
			// Rings of cells, the ring order pinned: cells deploy one at
			// a time inside each ring.
			name: "rings of cells",
			policy: Policy{Levels: []string{"ring", "cell"}, Waves: Sizing{Growth: 1},
				First: []string{"ring-0", "ring-1", "ring-2"}, OneBox: OneBoxRule{Off: true}},
			targets: concat(
				hosts("ring-2", []string{"c1"}, 3, 1), hosts("ring-2", []string{"c2"}, 3, 1),
				hosts("ring-1", []string{"c1"}, 3, 1), hosts("ring-1", []string{"c2"}, 3, 1),
				hosts("ring-0", []string{"c1"}, 3, 9),
			),
			want: []string{
				"0 w1/ring-0/c1 zone [1 1 1] min=2 bake=12h0m0s",
				"1 w2/ring-1/c1 zone [1 1 1] min=2 bake=1h0m0s",
				"1 w2/ring-1/c2 zone [1 1 1] min=2 bake=2h0m0s",
				"2 w3/ring-2/c1 zone [1 1 1] min=2 bake=1h0m0s",
				"2 w3/ring-2/c2 zone [1 1 1] min=2 bake=2h0m0s",
			},
		},
		{
			// Cells inside zones: a zone stage deploys its cells one at a
			// time (batches never mix two cells of a zone), and the two
			// regions of the second wave move together.
			name:   "cells inside zones",
			policy: Policy{Levels: []string{"region", "zone", "cell"}, Batch: Batching{MaxFraction: 0.5}},
			targets: concat(
				hosts("r1", []string{"r1a", "c1"}, 5, 1), hosts("r1", []string{"r1a", "c2"}, 5, 1),
				hosts("r1", []string{"r1b", "c1"}, 4, 1),
				hosts("r2", []string{"r2a", "c1"}, 20, 1), hosts("r2", []string{"r2b", "c1"}, 20, 1),
				hosts("r3", []string{"r3a", "c1"}, 20, 1), hosts("r3", []string{"r3a", "c2"}, 20, 1),
			),
			want: []string{
				"0 w1/one-box/r1 one-box [1] min=0 bake=1h0m0s",
				"0 w1/r1/r1a zone [2 2 2 2 1] min=5 bake=1h0m0s",
				"0 w1/r1/r1b zone [2 2] min=2 bake=12h0m0s",
				"1 w2/one-box/r2+r3 one-box [2] min=0 bake=1h0m0s",
				"1 w2/r2/r2a+r3/r3a zone [20 18 10 10] min=28 bake=1h0m0s",
				"1 w2/r2/r2b zone [10 10] min=10 bake=2h0m0s",
			},
		},
		{
			// Kubernetes clusters as regions, no zones: each target is a
			// cluster, too small for a one-box; waves of 1, 2, 4 clusters.
			name:   "kubernetes clusters",
			policy: Policy{Levels: []string{"cluster"}},
			targets: []Target{
				{ID: "prod-eu", Location: []string{"prod-eu"}, Weight: 30},
				{ID: "prod-us", Location: []string{"prod-us"}, Weight: 50},
				{ID: "prod-ap", Location: []string{"prod-ap"}, Weight: 10},
				{ID: "staging", Location: []string{"staging"}, Weight: 1},
				{ID: "prod-sa", Location: []string{"prod-sa"}, Weight: 5},
			},
			want: []string{
				"0 w1/staging region [1] min=0 bake=12h0m0s",
				"1 w2/prod-sa+prod-ap region [2] min=0 bake=2h0m0s",
				"2 w3/prod-eu+prod-us region [2] min=0 bake=2h0m0s",
			},
			noBox: 5,
		},
		{
			// Namespaces of Kubernetes clusters: a cluster's namespaces
			// are its targets, the one-box is one namespace.
			name:   "kubernetes namespaces",
			policy: Policy{Levels: []string{"cluster"}, Waves: Sizing{Growth: 1}},
			targets: concat(
				hosts("prod-eu", []string{"ns"}, 12, 1),
				hosts("prod-us", []string{"ns"}, 30, 1),
			),
			want: []string{
				"0 w1/one-box/prod-eu one-box [1] min=0 bake=1h0m0s",
				"0 w1/prod-eu region [3 3 3 2] min=8 bake=12h0m0s",
				"1 w2/one-box/prod-us one-box [1] min=0 bake=1h0m0s",
				"1 w2/prod-us region [9 9 9 2] min=20 bake=2h0m0s",
			},
		},
		{
			name:    "single region",
			policy:  Policy{},
			targets: grid([]string{"eu-west-1"}, 3, 10, one),
			want: []string{
				"0 w1/one-box/eu-west-1 one-box [1] min=0 bake=1h0m0s",
				"0 w1/eu-west-1/eu-west-1a zone [3 3 3] min=6 bake=1h0m0s",
				"0 w1/eu-west-1/eu-west-1b zone [3 3 3 1] min=7 bake=1h0m0s",
				"0 w1/eu-west-1/eu-west-1c zone [3 3 3 1] min=7 bake=12h0m0s",
			},
		},
		{
			name:    "one target",
			policy:  Policy{},
			targets: []Target{{ID: "only", Location: []string{"r", "z"}}},
			want:    []string{"0 w1/r/z zone [1] min=0 bake=12h0m0s"},
			noBox:   1,
		},
		{
			// A one-box cap of 100% lets the one-box take a single-target
			// zone: the zone stage is then not needed.
			name:    "one target, one-box allowed",
			policy:  Policy{OneBox: OneBoxRule{MaxFraction: 1}},
			targets: []Target{{ID: "only", Location: []string{"r", "z"}}},
			want:    []string{"0 w1/one-box/r one-box [1] min=0 bake=12h0m0s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.policy.Plan(tt.targets)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, shape(p)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			if len(p.Warnings) != tt.noBox || len(p.Notes) != 0 {
				t.Errorf("Warnings = %q, Notes = %q; want %d warnings, no notes", p.Warnings, p.Notes, tt.noBox)
			}
			for _, w := range p.Warnings {
				if w.Code != WarnNoOneBox || w.Region == "" || w.Message == "" {
					t.Errorf("warning %+v", w)
				}
			}
			if err := p.Validate(); err != nil {
				t.Error(err)
			}
			checkInvariants(t, tt.policy, tt.targets, p)
		})
	}
}

// hosts makes n targets in region with the rest of the location given,
// named after the location.
func hosts(region string, rest []string, n int, w float64) []Target {
	ts := make([]Target, n)
	for i := range ts {
		loc := append([]string{region}, rest...)
		id := region
		for _, l := range rest {
			id += "-" + l
		}
		ts[i] = Target{ID: fmt.Sprintf("%s-%02d", id, i), Location: loc, Weight: w}
	}
	return ts
}

func concat(tss ...[]Target) []Target {
	var out []Target
	for _, ts := range tss {
		out = append(out, ts...)
	}
	return out
}
