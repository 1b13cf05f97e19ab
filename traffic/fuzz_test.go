package traffic_test

import (
	"encoding/json"
	"testing"

	"github.com/shepherd-go/shepherd/traffic"
)

// FuzzDecode feeds schedule files to Decode: it never panics, and what it
// accepts is valid, ends at 100% and survives a round trip unchanged.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"steps":[{"kind":"weight","percent":10},{"kind":"hold","duration":"5m"},{"kind":"weight","percent":100}]}`,
		`{"steps":[{"kind":"hold","until":"approval"},{"kind":"weight","percent":100},{"kind":"retire"}]}`,
		`{"steps":[{"kind":"match","match":[{"header":"x","value":"y"}]},{"kind":"weight","percent":100}],"allowDecrease":true}`,
		`{"steps":[{"kind":"weight","percent":1e309}]}`,
		`{"steps":[{"kind":"hold","duration":"none"},{"kind":"weight","percent":100}]}`,
		`{"steps":null}`, `[]`, `{"steps":[{}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := traffic.Decode(data)
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Decode accepted an invalid schedule: %v", err)
		}
		if s.Final() != 100 {
			t.Fatalf("accepted a schedule that ends at %v%%", s.Final())
		}
		again, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := traffic.Decode(again)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", again, err)
		}
		if s.String() != s2.String() || s.AllowDecrease != s2.AllowDecrease {
			t.Fatalf("round trip changed %s into %s", s, s2)
		}
		_ = s.Explain()
	})
}
