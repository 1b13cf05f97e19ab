package main

import (
	"strings"
	"testing"
)

// TestOutput keeps the program's output, which the README quotes, exact.
func TestOutput(t *testing.T) {
	var b strings.Builder
	if err := run(&b); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != want {
		t.Errorf("output changed:\n%s\nwant:\n%s", got, want)
	}
}

const want = `time   fleet errors  box-17 vs fleet  p99 latency        rollback
09:04  OK            OK               OK                 OK
09:07  OK            OK               OK                 OK
09:10  OK            OK               OK                 OK
09:13  OK            ALARM            OK                 ALARM
09:16  OK            ALARM            ALARM              ALARM
09:19  OK            ALARM            ALARM              ALARM
09:22  OK            ALARM            OK                 ALARM
09:25  OK            ALARM            OK                 ALARM
09:28  OK            ALARM            INSUFFICIENT_DATA  ALARM

why, at 09:28
- fleet errors: OK (0 of the last 5 datapoints (1m0s periods) > 0.01, 3 needed for ALARM [newest first: 0.00243435, 0.00286951, 0.00250913, 0.00272343, 0.00263385])
- box-17 vs fleet: ALARM (3 of the last 3 datapoints (1m0s periods) scoped above baseline by more than 3x and more than 0.01, 2 needed for ALARM [newest first: 0.0441257 vs 0.00243435, 0.0440498 vs 0.00286951, 0.0460563 vs 0.00250913]; latest scoped 0.0441257 vs baseline 0.00243435)
- p99 latency: INSUFFICIENT_DATA (no datapoints of at least 1000 samples in the last 5 periods of 1m0s; missing data is treated as missing)
- rollback: ALARM (ALARM("fleet errors") OR ALARM("box-17 vs fleet") OR ALARM("p99 latency") OR INSUFFICIENT_DATA("p99 latency") is true: "box-17 vs fleet" is ALARM, "fleet errors" is OK, "p99 latency" is INSUFFICIENT_DATA)
`
