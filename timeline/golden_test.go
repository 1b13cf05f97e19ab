package timeline

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the current output")

var goldenCases = []struct {
	name string
	tl   func() *Timeline
}{
	{"run", runTimeline},
	{"live", liveTimeline},
	{"plan", planTimeline},
	{"hostile", hostileTimeline},
	{"empty", func() *Timeline { return &Timeline{Title: "nothing yet", Rows: []Row{{Name: "one-box"}}} }},
}

var renderers = []struct {
	ext    string
	render func(*Timeline, *bytes.Buffer) error
}{
	{"svg", func(t *Timeline, b *bytes.Buffer) error { return t.WriteSVG(b) }},
	{"html", func(t *Timeline, b *bytes.Buffer) error { return t.WriteHTML(b) }},
	{"txt", func(t *Timeline, b *bytes.Buffer) error { return t.WriteText(b, 0) }},
}

// TestGolden compares every renderer's output with testdata/NAME.EXT. Run
// go test ./timeline -run TestGolden -update to accept a deliberate change,
// then review the diff (and open the .svg and .html files).
func TestGolden(t *testing.T) {
	for _, gc := range goldenCases {
		for _, r := range renderers {
			t.Run(gc.name+"."+r.ext, func(t *testing.T) {
				var got bytes.Buffer
				if err := r.render(gc.tl(), &got); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join("testdata", gc.name+"."+r.ext)
				if *update {
					if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if diff := cmp.Diff(string(want), got.String()); diff != "" {
					t.Errorf("%s differs (-want +got); run with -update if the change is intended:\n%s", path, diff)
				}
			})
		}
	}
}

// TestDeterministic renders each timeline many times and expects the same
// bytes every time (no map order, no clock, no randomness leaks in).
func TestDeterministic(t *testing.T) {
	for _, gc := range goldenCases {
		for _, r := range renderers {
			var first bytes.Buffer
			if err := r.render(gc.tl(), &first); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 20; i++ {
				var again bytes.Buffer
				if err := r.render(gc.tl(), &again); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(first.Bytes(), again.Bytes()) {
					t.Fatalf("%s.%s: render %d differs from the first", gc.name, r.ext, i+1)
				}
			}
		}
	}
}
