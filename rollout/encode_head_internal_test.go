package rollout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/wave"
)

// reflectHead is the head as encoding/json encodes it: what appendHead
// must write, byte for byte.
type reflectHead struct {
	*stateAlias
	Plan      *struct{} `json:"plan,omitempty"`
	Targets   *struct{} `json:"targets,omitempty"`
	Decisions *struct{} `json:"decisions,omitempty"`
	Audit     *struct{} `json:"audit,omitempty"`
}

// checkHead fails t unless appendHead writes what encoding/json does.
func checkHead(t testing.TB, s *State) {
	t.Helper()
	want, err := json.Marshal(reflectHead{stateAlias: (*stateAlias)(s)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.appendHead(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want = want[:len(want)-1]; !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("head differs from encoding/json's at byte %d:\ngot  ...%.120q\nwant ...%.120q", i, got[max(i-40, 0):], want[max(i-40, 0):])
	}
}

// TestAppendStageMatchesJSON compares the hand-written encoding of stage
// records with encoding/json's on random stages, every field set or not,
// strings that need escaping, times in zones and out of range.
func TestAppendStageMatchesJSON(t *testing.T) {
	// A field added to StageState or Timings must be added to
	// appendStage or appendTimings (and to random below).
	if n := reflect.TypeFor[StageState]().NumField(); n != 28 {
		t.Fatalf("StageState has %d fields, appendStage knows 28", n)
	}
	if n := reflect.TypeFor[Timings]().NumField(); n != 8 {
		t.Fatalf("Timings has %d fields, appendTimings knows 8", n)
	}
	r := rand.New(rand.NewPCG(1, 2))
	zone := time.FixedZone("x", 5*3600+1800)
	str := func() string {
		return []string{"", "w1/one-box/r0", `a"b\c`, "<&>", "é ü", "\x01\t", "zone"}[r.IntN(7)]
	}
	tm := func() time.Time {
		switch r.IntN(6) {
		case 0, 1:
			return time.Time{}
		case 2:
			return time.Date(2026, 12, 7, 1, 2, 3, r.IntN(1e9), time.UTC)
		case 3:
			return time.Date(2026, 1, 2, 3, 4, 5, 0, zone)
		case 4:
			return time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.Local)
		}
		return time.Date(10000+r.IntN(3), 1, 1, 0, 0, 0, 0, time.UTC) // encoding/json refuses
	}
	dur := func() duration.Duration {
		if r.IntN(2) == 0 {
			return 0
		}
		return duration.Duration(r.Int64N(int64(100 * time.Hour)))
	}
	for i := range 5000 {
		st := StageState{
			Name: str(), Kind: wave.StageKind(str()), Wave: r.IntN(3) - 1, Step: StageStep(str()),
			Pos: r.IntN(3) - 1, Batch: r.IntN(3), Started: tm(), Deployed: tm(), Baking: tm(), Finished: tm(),
			Deadline: tm(), Next: tm(), BlockedSince: tm(), BlockedCheck: tm(), AskedAt: tm(), BakeNote: str(),
			Polled: r.IntN(2) == 0, NextJudge: tm(),
			Timings: Timings{Blocked: dur(), Approval: dur(), Deploying: dur(), Baking: dur(), Judging: dur(),
				Verifying: dur(), Paused: dur(), RollingBack: dur()},
		}
		if r.IntN(3) == 0 {
			st.Blocked = []BlockReason{{Blocker: str(), Reason: str()}}
		}
		if r.IntN(3) == 0 {
			st.BlockedBy = map[string]duration.Duration{str(): dur(), "b": dur()}
		}
		if r.IntN(3) == 0 {
			st.Approval = &AuditEntry{Actor: str(), Reason: str(), Time: tm()}
		}
		if r.IntN(3) == 0 {
			st.SkipBake = &AuditEntry{Actor: str()}
		}
		if r.IntN(3) == 0 {
			st.Bake = new(bake.Tracker)
		}
		if r.IntN(3) == 0 {
			st.Evidence = []float64{r.Float64(), 1e21, 0}
		}
		if r.IntN(3) == 0 {
			st.Verdict = &Verdict{}
		}
		if r.IntN(3) == 0 {
			st.Verify = &VerifyState{Started: tm()}
		}
		if r.IntN(3) == 0 {
			st.Exposure = &ExposureState{Pos: r.IntN(3)}
		}
		want, wantErr := json.Marshal(&st)
		got, gotErr := appendStage([]byte("x"), &st)
		if (wantErr != nil) != (gotErr != nil) {
			t.Fatalf("case %d: error %v, encoding/json's %v", i, gotErr, wantErr)
		}
		if wantErr != nil {
			continue
		}
		if !bytes.Equal(got, append([]byte("x"), want...)) {
			t.Fatalf("case %d:\ngot  %s\nwant x%s", i, got, want)
		}
	}
}

// TestAppendHeadEmpty covers a head without stages and with an empty list.
func TestAppendHeadEmpty(t *testing.T) {
	for _, s := range []*State{{}, {Stages: []StageState{}}, {ID: "a", Pending: []ActionKind{ActionDeploy}, Rollback: &RollbackState{Reason: "x"}}} {
		t.Run(fmt.Sprint(s.Stages == nil), func(t *testing.T) { checkHead(t, s) })
	}
}
