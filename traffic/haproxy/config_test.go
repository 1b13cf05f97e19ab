package haproxy_test

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/field"
	"github.com/shepherd-go/shepherd/traffic/haproxy"
)

func paths(err error) []string {
	var out []string
	for _, e := range field.Flatten(err) {
		var fe *field.Error
		if errors.As(e, &fe) {
			out = append(out, fe.Path)
		} else {
			out = append(out, "not a field error: "+e.Error())
		}
	}
	return out
}

func TestValidate(t *testing.T) {
	ok := map[string]haproxy.Scope{"api": {Versions: map[string][]string{"v1": {"a"}}}}
	for _, tc := range []struct {
		name string
		cfg  haproxy.Config
		want []string
	}{
		{"unix", haproxy.Config{Socket: "/run/haproxy/admin.sock", Scopes: ok}, nil},
		{"tcp", haproxy.Config{Socket: "127.0.0.1:9999", Scopes: ok}, nil},
		{"zero", haproxy.Config{}, []string{"Config.Socket", "Config.Scopes"}},
		{"not an address", haproxy.Config{Socket: "admin.sock", Scopes: ok}, []string{"Config.Socket"}},
		{"newline", haproxy.Config{Socket: "/a\nb", Scopes: ok}, []string{"Config.Socket"}},
		{"negative", haproxy.Config{Socket: "/s", Timeout: duration.Duration(-1), Tolerance: -1, Scopes: ok},
			[]string{"Config.Timeout", "Config.Tolerance"}},
		{"match", haproxy.Config{Socket: "/s", Scopes: map[string]haproxy.Scope{"api": {Versions: map[string][]string{"v1": {"a"}},
			Match: &haproxy.Match{Header: "X Canary", Map: "/etc/a map"}}}},
			[]string{`Config.Scopes["api"].Match.Header`, `Config.Scopes["api"].Match.Map`}},
		{"nan", haproxy.Config{Socket: "/s", Tolerance: math.NaN(), Scopes: ok}, []string{"Config.Tolerance"}},
		{"scopes", haproxy.Config{Socket: "/s", Scopes: map[string]haproxy.Scope{
			"":         {Backend: "x", Versions: map[string][]string{"v1": {"a"}}},
			"api":      {Versions: map[string][]string{}},
			"bad name": {Versions: map[string][]string{"v1": {"a"}}},
			"twice":    {Backend: "api", Versions: map[string][]string{"v1": {"a"}}},
			"web": {Backend: "web;show info", Versions: map[string][]string{
				"":   {"x"},
				"v1": {"a", "a", "b c"},
				"v2": {},
				"v3": {"a"},
			}},
		}}, []string{
			`Config.Scopes[""]`,
			`Config.Scopes["api"].Versions`,
			`Config.Scopes["bad name"].Backend`,
			`Config.Scopes["twice"].Backend`,
			`Config.Scopes["web"].Backend`,
			`Config.Scopes["web"].Versions[""]`,
			`Config.Scopes["web"].Versions["v1"][1]`,
			`Config.Scopes["web"].Versions["v1"][2]`,
			`Config.Scopes["web"].Versions["v2"]`,
			`Config.Scopes["web"].Versions["v3"][0]`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err != nil && !errors.Is(err, haproxy.ErrInvalid) {
				t.Errorf("Validate: %v does not wrap ErrInvalid", err)
			}
			if diff := cmp.Diff(tc.want, paths(err)); diff != "" {
				t.Errorf("Validate: %v\npaths (-want +got):\n%s", err, diff)
			}
			if _, nerr := haproxy.New(tc.cfg); (nerr == nil) != (err == nil) {
				t.Errorf("New: %v, Validate: %v", nerr, err)
			}
		})
	}
}

func TestConfigJSON(t *testing.T) {
	in := `{"socket":"/run/haproxy/admin.sock","timeout":"2s","scopes":{"api":{"backend":"app","versions":{"v1":["a","b"],"v2":["c"]},
		"match":{"header":"X-Canary","map":"/etc/haproxy/canary.map"}}}}`
	var c haproxy.Config
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back haproxy.Config
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, back); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
}

// FuzzConfigValidate checks that any configuration read from JSON is
// either valid, and then makes a router, or reported, and never panics.
func FuzzConfigValidate(f *testing.F) {
	f.Add(`{"socket":"/s","scopes":{"api":{"versions":{"v1":["a"],"v2":["b"]}}}}`)
	f.Add(`{"socket":"h:1","tolerance":0.5,"scopes":{"a;b":{"versions":{"":[]}}}}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, s string) {
		var c haproxy.Config
		if json.Unmarshal([]byte(s), &c) != nil {
			return
		}
		err := c.Validate()
		if _, nerr := haproxy.New(c); (nerr == nil) != (err == nil) {
			t.Fatalf("New: %v, Validate: %v", nerr, err)
		}
		for _, e := range field.Flatten(err) {
			if !errors.Is(e, haproxy.ErrInvalid) {
				t.Fatalf("problem %v does not wrap ErrInvalid", e)
			}
		}
	})
}

func TestWeightsFor(t *testing.T) {
	for _, tc := range []struct {
		p      float64
		nc, ns int
		want   haproxy.Weights
	}{
		{0, 1, 1, haproxy.Weights{Stable: 1}},
		{100, 3, 2, haproxy.Weights{Canary: 1}},
		{50, 1, 1, haproxy.Weights{Stable: 1, Canary: 1}},
		{10, 1, 1, haproxy.Weights{Stable: 9, Canary: 1}},
		{1, 1, 1, haproxy.Weights{Stable: 99, Canary: 1}},
		{10, 1, 2, haproxy.Weights{Stable: 9, Canary: 2}},
		{12.5, 1, 1, haproxy.Weights{Stable: 7, Canary: 1}},
		{100.0 / 3, 2, 1, haproxy.Weights{Stable: 4, Canary: 1}},
		{0.5, 1, 1, haproxy.Weights{Stable: 199, Canary: 1}},
		{99, 1, 1, haproxy.Weights{Stable: 1, Canary: 99}},
	} {
		w, got, err := haproxy.WeightsFor(tc.p, tc.nc, tc.ns, 0)
		if err != nil {
			t.Errorf("WeightsFor(%v, %d, %d): %v", tc.p, tc.nc, tc.ns, err)
			continue
		}
		if w != tc.want || got != tc.p {
			t.Errorf("WeightsFor(%v, %d, %d) = %+v, %v; want %+v, %v", tc.p, tc.nc, tc.ns, w, got, tc.want, tc.p)
		}
	}
	for _, tc := range []struct {
		p         float64
		nc, ns    int
		tolerance float64
	}{
		{0.1, 1, 1, 0},
		{1, 3, 1, 0},    // 1 in 100 needs a stable weight of 297
		{50.1, 1, 1, 0}, // 501 to 499
		{-1, 1, 1, 0},
		{101, 1, 1, 0},
		{math.NaN(), 1, 1, 0},
		{10, 0, 1, 0},
	} {
		if w, got, err := haproxy.WeightsFor(tc.p, tc.nc, tc.ns, tc.tolerance); err == nil {
			t.Errorf("WeightsFor(%v, %d, %d, %v) = %+v, %v; want an error", tc.p, tc.nc, tc.ns, tc.tolerance, w, got)
		}
	}
	if _, got, err := haproxy.WeightsFor(1, 3, 1, 0.2); err != nil || math.Abs(got-1) > 0.2 {
		t.Errorf("WeightsFor(1%%, 3, 1, tolerance 0.2) = %v, %v", got, err)
	}
}

// TestWeightsForProperties checks, over whole percentages and random
// shares and fleets, that weights are in HAProxy's range, that the share
// they realise is what WeightsFor says and within tolerance, that whole
// percentages are exact whenever the weights can express them, and that a
// share strictly between 0 and 100 leaves both sides some traffic.
func TestWeightsForProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	check := func(p float64, nc, ns int, tol float64) {
		w, got, err := haproxy.WeightsFor(p, nc, ns, tol)
		if err != nil {
			if !errors.Is(err, haproxy.ErrUnrealisable) {
				t.Fatalf("WeightsFor(%v, %d, %d, %v): %v", p, nc, ns, tol, err)
			}
			return
		}
		realised, ok := w.Share(nc, ns)
		switch {
		case w.Stable < 0 || w.Stable > haproxy.MaxWeight || w.Canary < 0 || w.Canary > haproxy.MaxWeight || !ok:
			t.Fatalf("WeightsFor(%v, %d, %d) = %+v: out of range", p, nc, ns, w)
		case realised != got:
			t.Fatalf("WeightsFor(%v, %d, %d) says %v, the weights give %v", p, nc, ns, got, realised)
		case math.Abs(realised-p) > tol+1e-9:
			t.Fatalf("WeightsFor(%v, %d, %d, %v) = %v: off by more than the tolerance", p, nc, ns, tol, realised)
		case p > 0 && p < 100 && (w.Stable == 0 || w.Canary == 0):
			t.Fatalf("WeightsFor(%v, %d, %d) = %+v: a side gets nothing", p, nc, ns, w)
		}
	}
	for p := 0; p <= 100; p++ {
		for nc := 1; nc <= 4; nc++ {
			for ns := 1; ns <= 4; ns++ {
				check(float64(p), nc, ns, 0)
				// With one server each, every whole percentage is exact.
				if _, _, err := haproxy.WeightsFor(float64(p), 1, ns, 0); nc == 1 && ns == 1 && err != nil {
					t.Errorf("WeightsFor(%d%%, 1, 1): %v", p, err)
				}
			}
		}
	}
	for range 2000 {
		check(rng.Float64()*100, 1+rng.IntN(10), 1+rng.IntN(10), rng.Float64())
	}
}
