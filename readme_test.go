package shepherd_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReadmeProgram checks that the program on README.md's first screen is
// the code of Example_readme (readme_example_test.go), which go test
// compiles and runs against its // Output: comment: the README's program
// compiles, runs, and prints what the README says. The two differ only in
// the package clause, the function's name and the expected output.
func TestReadmeProgram(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```go\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no ```go block")
	}
	program := string(m[1])

	example, err := os.ReadFile("readme_example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	want := string(example)
	want = strings.Replace(want, "package shepherd_test\n", "package main\n", 1)
	want = strings.Replace(want, "func Example_readme() {\n", "func main() {\n", 1)
	// Drop the expected output: the lines from "// Output:" to the end
	// of the function.
	i := strings.Index(want, "\t// Output:\n")
	j := strings.Index(want[max(i, 0):], "\n}\n")
	if i < 0 || j < 0 {
		t.Fatal("readme_example_test.go has no // Output: block")
	}
	want = want[:i] + want[i+j+1:]
	if diff := cmp.Diff(want, program); diff != "" {
		t.Errorf("README.md's program differs from Example_readme (-example +readme):\n%s", diff)
	}

	// The output the README shows is the example's.
	out := regexp.MustCompile("(?s)\t// Output:\n(.*?)\n}\n").FindStringSubmatch(string(example))
	var lines []string
	for _, l := range strings.Split(out[1], "\n") {
		lines = append(lines, strings.TrimPrefix(l, "\t// "))
	}
	if shown := strings.Join(lines, "\n") + "\n"; !strings.Contains(string(readme), "```text\n"+shown+"```") {
		t.Errorf("README.md does not show the program's output:\n%s", shown)
	}
}
