package policyfile_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/field"
	"github.com/shepherd-go/shepherd/policyfile"
)

var update = flag.Bool("update", false, "rewrite the .golden files of testdata/bad")

// TestBadFiles reads every file of testdata/bad, each a policy with
// mistakes, and compares every problem reported, one a line, with the
// file's .golden twin. Run go test -update to rewrite the golden files after
// a deliberate change of wording, and review the diff.
func TestBadFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".golden") {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := policyfile.Parse(data)
			if err == nil {
				t.Fatalf("Parse accepted a bad file: %+v", p)
			}
			if p != nil {
				t.Errorf("Parse returned a policy with its error")
			}
			if !errors.Is(err, policyfile.ErrInvalid) && len(field.All(err)) == 0 {
				t.Errorf("error is neither ErrInvalid nor field errors: %v", err)
			}
			// Every problem has the one shape, with a path unless it is
			// about the whole file.
			for _, e := range field.Flatten(err) {
				var fe *field.Error
				if !errors.As(e, &fe) {
					t.Errorf("problem %q is not a *field.Error", e)
				}
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, filepath.Ext(f)) + filepath.Ext(f) + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("problems of %s (-want +got):\n%s", f, diff)
			}
		})
	}
	if n < 20 {
		t.Errorf("only %d bad files; the acceptance asks for at least 20", n)
	}
}

// TestGoodFiles reads every file of testdata/good without a problem.
func TestGoodFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := policyfile.Load(f); err != nil {
				t.Errorf("Load(%s):\n%v", f, err)
			}
		})
	}
}
