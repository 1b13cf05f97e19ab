package policyfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/field"
	"github.com/shepherd-go/shepherd/policyfile"
)

// FuzzParse feeds the loader arbitrary files, seeded with every file of
// testdata. It must never panic; every problem it reports is a
// *field.Error; and a policy it accepts writes back (JSON and YAML) to a
// file that reads to an equal policy.
//
//	go test -fuzz FuzzParse -fuzztime 60s ./policyfile
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/good", "testdata/bad"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, file := range files {
			if filepath.Ext(file) == ".golden" {
				continue
			}
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policyfile.Parse(data)
		if err != nil {
			if p != nil {
				t.Fatal("a policy returned with an error")
			}
			for _, e := range field.Flatten(err) {
				var fe *field.Error
				if !errors.As(e, &fe) {
					t.Fatalf("problem %q (%T) is not a *field.Error", e, e)
				}
			}
			return
		}
		for _, form := range []policyfile.Format{policyfile.JSON, policyfile.YAML} {
			out, err := policyfile.Marshal(p, form)
			if err != nil {
				t.Fatalf("Marshal(%s): %v", form, err)
			}
			q, err := policyfile.Parse(out)
			if err != nil {
				t.Fatalf("an accepted policy does not read back from %s: %v\n%s", form, err, out)
			}
			if diff := cmp.Diff(p, q, policyOpts); diff != "" {
				t.Fatalf("round trip through %s (-first +second):\n%s\n%s", form, diff, out)
			}
		}
	})
}
