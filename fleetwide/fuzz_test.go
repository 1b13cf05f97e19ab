package fleetwide_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/fleetwide"
)

// FuzzDecodeState: a saved group state from anywhere decodes or fails with
// an error; one that decodes steps or fails with an error, never a panic.
func FuzzDecodeState(f *testing.F) {
	st, err := fleetwide.NewState(spec(f, fleetwide.Member{Name: "a"}, fleetwide.Member{Name: "b", After: []fleetwide.Dependency{{Member: "a"}}}), t0)
	if err != nil {
		f.Fatal(err)
	}
	st.Step(t0)
	data, _ := fleetwide.EncodeState(st)
	f.Add(data)
	f.Add([]byte(`{"schema":1,"crc32c":0,"state":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := fleetwide.DecodeState(data)
		if err != nil {
			return
		}
		s.Step(t0.Add(time.Hour), fleetwide.Restarted())
	})
}

// FuzzSpec: a group spec from a policy file validates or is refused, and
// a valid one makes a state.
func FuzzSpec(f *testing.F) {
	b, _ := json.Marshal(spec(f, fleetwide.Member{Name: "a"}, fleetwide.Member{Name: "b", After: []fleetwide.Dependency{{Member: "a", Kind: fleetwide.AfterWave}}}))
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var s fleetwide.Spec
		if json.Unmarshal(data, &s) != nil {
			return
		}
		if err := s.Validate(); err != nil {
			return
		}
		if _, err := fleetwide.NewState(s, t0); err != nil {
			t.Errorf("a valid spec makes no state: %v", err)
		}
	})
}
