package eval

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/shepherd-go/shepherd/canary"
)

// TestDiag (CANARY_DIAG=runs) tallies, for healthy cells, which metric
// kept each non-passing canary from passing at the deadline.
func TestDiag(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("CANARY_DIAG"))
	if n == 0 {
		t.Skip("set CANARY_DIAG")
	}
	for _, c := range Cells(n, n) {
		if !c.Effect.IsNull() || c.trafficX() != 1 {
			continue
		}
		pass, fail := 0, 0
		not := map[string]int{}
		for i := 0; i < n; i++ {
			seed := cellSeed(1, c) + uint64(i)
			d, _, _, _, by := Run(c, seed)
			switch d {
			case canary.Pass:
				pass++
				continue
			case canary.Fail:
				fail++
				for _, m := range by {
					not["FAIL "+m]++
				}
				continue
			}
			v := lastVerdict(c, seed)
			for _, m := range v.Metrics {
				if m.Decision != canary.Pass {
					not[m.Name]++
				}
			}
			if strings.Contains(v.Reason, "not yet shown") {
				not["traffic"]++
			}
		}
		fmt.Printf("%-75s pass %3d fail %d not-passing: %v\n", c.Name(), pass, fail, not)
	}
}
