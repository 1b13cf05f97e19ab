package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/shepherd-go/shepherd/policyfile"
)

// validateResult is one file's result in validate's --json output.
type validateResult struct {
	File     string    `json:"file"`
	Valid    bool      `json:"valid"`
	Problems []problem `json:"problems,omitempty"`
}

// validateCmd reads policy files and reports every problem of each.
func validateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", stderr)
	asJSON := fs.Bool("json", false, "print the results as JSON")
	files, err := parse(fs, args)
	if err != nil {
		return exitInput
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "shepherd validate: name at least one policy file")
		return exitInput
	}
	code := exitOK
	var results []validateResult
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "shepherd validate: %v\n", err)
			return exitInput
		}
		_, err = policyfile.Parse(data)
		results = append(results, validateResult{File: f, Valid: err == nil, Problems: problemList(err)})
		if err != nil {
			code = exitFailed
			if !*asJSON {
				problems(stdout, f, err)
			}
		} else if !*asJSON {
			fmt.Fprintf(stdout, "%s: ok\n", f)
		}
	}
	if *asJSON {
		if err := writeJSON(stdout, results); err != nil {
			return exitInput
		}
	}
	return code
}
