package wave

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/field"
)

// parseFleet reads one target a line: "id region/zone/... weight
// key=value...". Missing fields are left zero; a bad weight is kept as
// parsed (NaN, -1) so that validation sees it.
func parseFleet(s string) []Target {
	var ts []Target
	for line := range strings.Lines(s) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		t := Target{ID: f[0]}
		if len(f) > 1 {
			t.Location = strings.Split(f[1], "/")
		}
		if len(f) > 2 {
			t.Weight, _ = strconv.ParseFloat(f[2], 64)
		}
		for _, kv := range f[min(len(f), 3):] {
			k, v, _ := strings.Cut(kv, "=")
			if t.Labels == nil {
				t.Labels = map[string]string{}
			}
			t.Labels[k] = v
		}
		ts = append(ts, t)
		if len(ts) == 500 {
			break
		}
	}
	return ts
}

// FuzzPlan feeds random policies (as JSON) and fleets to the planner: it
// must never panic, must refuse a policy exactly when Validate does, and
// every plan it makes must pass Plan.Validate and the invariants.
func FuzzPlan(f *testing.F) {
	fleet := `a r1/z1 1
b r1/z1 1
c r1/z2 2 env=b
d r2/z1 0
e r2/z2 5
f r3/z1/c1 1
g r3/z1/c2 1
`
	f.Add([]byte(`{}`), fleet)
	f.Add([]byte(`{"levels":["region"]}`), fleet)
	f.Add([]byte(`{"levels":["region","zone","cell"],"batch":{"maxFraction":0.5}}`), "a r/z/c\nb r/z/c\nc r/z/d\nd q/z/c\n")
	f.Add([]byte(`{"waves":{"sizes":[1,1,3],"growth":1.5,"maxParallelRegions":2}}`), fleet)
	f.Add([]byte(`{"batch":{"minHealthy":{"percent":95}}}`), fleet)
	f.Add([]byte(`{"batch":{"minHealthy":{"count":1}},"oneBox":{"off":true}}`), fleet)
	f.Add([]byte(`{"first":["r2"],"exclude":{"ids":["a"],"labels":{"env":"b"}}}`), fleet)
	f.Add([]byte(`{"first":["mars"]}`), fleet)
	f.Add([]byte(`{"bake":{"oneBox":"30m","waves":[{"wave":"-1s"}],"final":"1h"}}`), fleet)
	f.Add([]byte(`{"bake":{"oneBox":"none","zone":"0","waves":[{"wave":"none"},{"zone":"none"}],"final":"none"}}`), fleet)
	f.Add([]byte(`{"waves":{"growth":0.5},"batch":{"maxFraction":2}}`), "a r/z NaN\na r/z -1\nb /z\nc r\n")
	f.Add([]byte(`{"oneBox":{"maxFraction":1}}`), "only r/z")
	f.Add([]byte(`{"oneBox":{"perZone":true,"maxFraction":0.3}}`), fleet)
	f.Add([]byte(`{"oneBox":{"require":true}}`), "a r/z 1\nb r/z 9\nc r/y 0.1\nd q/z 1e-300\ne q/z 1.0000000000000002\n")
	f.Add([]byte(`{"oneBox":{"require":true,"off":true},"batch":{"maxFraction":0.3333333333333}}`), fleet)
	f.Add([]byte(`{"waves":{"growth":1.0000000001},"batch":{"minHealthy":{"percent":50.00000000001}}}`), fleet)
	f.Add([]byte(`{"bake":{"oneBox":30}}`), fleet)
	f.Add([]byte(`{}`), "")

	f.Fuzz(func(t *testing.T, policyJSON []byte, fleetText string) {
		var pol Policy
		if err := json.Unmarshal(policyJSON, &pol); err != nil {
			return
		}
		if len(pol.Waves.Sizes) > 1000 || len(pol.Bake.Waves) > 1000 {
			return
		}
		ts := parseFleet(fleetText)
		verr := pol.Validate()
		p, err := pol.Plan(ts)
		if verr != nil {
			if err == nil || err.Error() != verr.Error() {
				t.Fatalf("Validate() = %v but Plan() = %v", verr, err)
			}
			checkProblems(t, verr, ErrInvalid, "wave: policy.")
			return
		}
		if err != nil {
			checkProblems(t, err, nil, "wave: ")
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Plan.Validate() = %v", err)
		}
		checkInvariants(t, pol, ts, p)
		if p.Explain() == "" {
			t.Fatal("empty explanation")
		}
		e := p.Schedule(time.Unix(0, 0), time.Minute)
		if e.End.Before(e.Start) {
			t.Fatalf("schedule ends before it starts: %+v", e)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("json.Marshal(plan) = %v", err)
		}
		var back Plan
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if err := back.Validate(); err != nil {
			t.Fatalf("the plan read back from JSON is invalid: %v", err)
		}
	})
}

// FuzzPlanValidate feeds arbitrary plan JSON to Plan.Validate, as a
// driver does with a plan read back from storage: it must never panic,
// and every problem it reports must name its field, wrap ErrPlan and
// carry the package prefix.
func FuzzPlanValidate(f *testing.F) {
	p, err := Policy{}.Plan(grid([]string{"a", "b", "c"}, 2, 3, one))
	if err != nil {
		f.Fatal(err)
	}
	good, err := json.Marshal(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	// No Levels, and targets with an empty or missing Location.
	f.Add([]byte(`{"waves":[{"index":0,"regions":["r"],"stages":[{"name":"s","kind":"region","wave":0,"regions":["r"],"batches":[{"targets":[{"id":"a","location":[]},{"id":"b"}]}]}]}]}`))
	f.Add([]byte(`{"levels":["region","zone"],"waves":[{"index":0,"regions":["r"],"stages":[{"name":"s","kind":"zone","wave":0,"regions":["r"],"zones":[],"batches":[{"targets":[{"id":"a","location":["r",""]}]}],"minHealthy":-1}]}]}`))
	// Units that do not match the stage's targets.
	f.Add([]byte(`{"levels":["region","zone"],"waves":[{"index":0,"regions":["r"],"stages":[{"name":"s","kind":"zone","wave":0,"regions":["r"],"zones":["z"],"batches":[{"targets":[{"id":"a","location":["r","z"]},{"id":"b","location":["r","z"]}]}],"minHealthy":1,"units":[{"location":["r","z"],"targets":3,"minHealthy":1},{"location":["r"],"targets":-1,"minHealthy":-2},{"location":["r","z"],"targets":0,"minHealthy":0}]}]}]}`))
	f.Add([]byte(`{"levels":["region"],"waves":[{"index":0,"regions":["r"],"stages":[{"name":"s","kind":"region","wave":0,"regions":["r"],"bake":"none","batches":[{"targets":[{"id":"a","location":["r"]}]}]}]},{"index":1,"regions":[],"stages":[]}],"finalBake":"-1s"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{}`))

	f.Fuzz(func(t *testing.T, planJSON []byte) {
		var p Plan
		if err := json.Unmarshal(planJSON, &p); err != nil {
			return
		}
		err := p.Validate()
		if err == nil {
			return
		}
		if !errors.Is(err, ErrPlan) {
			t.Fatalf("Validate() error %v does not wrap ErrPlan", err)
		}
		checkProblems(t, err, ErrPlan, "wave: plan.")
	})
}

// checkProblems checks that err is a join of field errors, each with a
// path, a sentinel (is, when not nil) and a message that starts with
// prefix.
func checkProblems(t *testing.T, err error, is error, prefix string) {
	t.Helper()
	leaves := field.Flatten(err)
	if len(leaves) == 0 || len(leaves) > field.MaxProblems+1 {
		t.Fatalf("error %v has %d problems", err, len(leaves))
	}
	for i, e := range leaves {
		var fe *FieldError
		if !errors.As(e, &fe) {
			if i == field.MaxProblems && strings.Contains(e.Error(), "more problems") {
				continue
			}
			t.Fatalf("problem %q is not a *FieldError", e)
		}
		if fe.Path == "" || fe.Err == nil || (is != nil && !errors.Is(fe.Err, is)) || !strings.HasPrefix(fe.Error(), prefix) {
			t.Fatalf("problem without a path or sentinel: %#v", fe)
		}
	}
}
