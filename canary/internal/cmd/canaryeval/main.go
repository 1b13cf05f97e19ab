// Command canaryeval compares the sequential judge with the Kayenta-parity
// judge on seeded synthetic canaries and prints a Markdown table: per
// scenario and judge, the rate of Fail (a false fail under no change, a
// detection otherwise), Pass and Inconclusive, and the median and 90th
// percentile time to detect. The model is described in the documentation of
// package canary/internal/eval.
//
//	go run ./canary/internal/cmd/canaryeval -null 10000 -effect 1000
//
// -cells takes a regular expression over the cells' names, to iterate on a
// few of them:
//
//	go run ./canary/internal/cmd/canaryeval -null 400 -effect 200 -workers 1 -cells 'overdispersion 50%|errors x2; .*share 10%'
//
// The same seed gives the same table whatever the number of workers.
package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/canary/internal/eval"
)

func main() {
	null := flag.Int("null", 10000, "runs per null (no change) cell")
	effect := flag.Int("effect", 1000, "runs per effect cell")
	seed := flag.Uint64("seed", 1, "seed")
	workers := flag.Int("workers", 0, "goroutines (0: GOMAXPROCS)")
	filter := flag.String("filter", "", "only cells whose name contains this")
	pattern := flag.String("cells", "", "only cells whose name matches this regular expression")
	flag.Parse()

	re, err := regexp.Compile(*pattern)
	if err != nil {
		fmt.Fprintln(os.Stderr, "canaryeval: -cells:", err)
		os.Exit(2)
	}
	var cells []eval.Cell
	for _, c := range eval.Cells(*null, *effect) {
		if strings.Contains(c.Name(), *filter) && re.MatchString(c.Name()) {
			cells = append(cells, c)
		}
	}
	if len(cells) == 0 {
		fmt.Fprintf(os.Stderr, "canaryeval: no cell matches -filter %q and -cells %q\n", *filter, *pattern)
		os.Exit(2)
	}
	t0 := time.Now()
	res := eval.Evaluate(cells, *seed, *workers)
	fmt.Print(eval.Table(res))
	seq, kay, seqCell, kayCell := eval.Worst(res)
	fmt.Printf("\nWorst null cell: sequential %.2f%% (%s); kayenta %.2f%% (%s).\n", 100*seq, seqCell, 100*kay, kayCell)
	runs := 0
	for _, c := range cells {
		runs += c.Runs
	}
	fmt.Fprintf(os.Stderr, "canaryeval: %d cells, %d runs in %s\n", len(cells), runs, time.Since(t0).Round(time.Second))
}
