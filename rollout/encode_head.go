package rollout

import (
	"encoding/json"

	"github.com/shepherd-go/shepherd/duration"
	"strconv"
	"time"
)

// The head of a saved state holds one record per stage of the plan, and
// a save encodes it whole: with encoding/json's reflection, the head of a
// 16-stage rollout (10 KB by its end) cost more than the rest of a save
// on a fleet of 10,000. So the head is assembled: the fields before the
// stages and those after them through encoding/json (they are few and
// small), and each stage by hand, byte for byte as encoding/json would
// write it (TestAppendStageMatchesJSON and the journal tests compare the
// two), with encoding/json kept for the rarer structured fields.

// headPre is the part of the state encoded before its stages: the
// shallower fields hide the embedded ones and, nil, are omitted.
type headPre struct {
	*stateAlias
	Plan      *struct{} `json:"plan,omitempty"`
	Stages    *struct{} `json:"stages,omitempty"`
	Targets   *struct{} `json:"targets,omitempty"`
	Watch     *struct{} `json:"watch,omitempty"`
	Rollback  *struct{} `json:"rollback,omitempty"`
	Pending   *struct{} `json:"pending,omitempty"`
	Timings   *struct{} `json:"timings,omitempty"`
	Decisions *struct{} `json:"decisions,omitempty"`
	Audit     *struct{} `json:"audit,omitempty"`
}

// headPost is the part of the state encoded after its stages, before the
// decisions and the audit log; its fields and tags are State's.
type headPost struct {
	Watch    Watch          `json:"watch"`
	Rollback *RollbackState `json:"rollback,omitempty"`
	Pending  []ActionKind   `json:"pending,omitempty"`
	Timings  Timings        `json:"timings"`
}

// appendHead appends the head of s, as encoding/json would encode s with
// its plan, targets, decisions and audit log hidden, without the closing
// brace.
func (s *State) appendHead(b []byte) ([]byte, error) {
	pre, err := json.Marshal(headPre{stateAlias: (*stateAlias)(s)})
	if err != nil {
		return b, err
	}
	b = append(b, pre[:len(pre)-1]...)
	if len(pre) > 2 {
		b = append(b, ',')
	}
	b = append(b, `"stages":`...)
	if s.Stages == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range s.Stages {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendStage(b, &s.Stages[i]); err != nil {
				return b, err
			}
		}
		b = append(b, ']')
	}
	post, err := json.Marshal(headPost{Watch: s.Watch, Rollback: s.Rollback, Pending: s.Pending, Timings: s.Timings})
	if err != nil {
		return b, err
	}
	b = append(b, ',')
	return append(b, post[1:len(post)-1]...), nil
}

// appendStage appends st as encoding/json would.
func appendStage(b []byte, st *StageState) ([]byte, error) {
	start := len(b)
	b = append(b, `{"name":`...)
	b = appendString(b, st.Name)
	b = append(b, `,"kind":`...)
	b = appendString(b, string(st.Kind))
	b = append(b, `,"wave":`...)
	b = strconv.AppendInt(b, int64(st.Wave), 10)
	b = append(b, `,"step":`...)
	b = appendString(b, string(st.Step))
	if st.Pos != 0 {
		b = append(b, `,"pos":`...)
		b = strconv.AppendInt(b, int64(st.Pos), 10)
	}
	b = append(b, `,"batch":`...)
	b = strconv.AppendInt(b, int64(st.Batch), 10)
	ok := true
	b, ok = appendTime(b, `,"started":`, st.Started, ok)
	b, ok = appendTime(b, `,"deployed":`, st.Deployed, ok)
	b, ok = appendTime(b, `,"baking":`, st.Baking, ok)
	b, ok = appendTime(b, `,"finished":`, st.Finished, ok)
	b, ok = appendTime(b, `,"deadline":`, st.Deadline, ok)
	b, ok = appendTime(b, `,"next":`, st.Next, ok)
	var err error
	if len(st.Blocked) > 0 {
		b, err = appendJSON(b, `,"blocked":`, st.Blocked)
	}
	b, ok = appendTime(b, `,"blockedSince":`, st.BlockedSince, ok)
	b, ok = appendTime(b, `,"blockedCheck":`, st.BlockedCheck, ok)
	if len(st.BlockedBy) > 0 && err == nil {
		b, err = appendJSON(b, `,"blockedBy":`, st.BlockedBy)
	}
	if st.Approval != nil && err == nil {
		b, err = appendJSON(b, `,"approval":`, st.Approval)
	}
	b, ok = appendTime(b, `,"askedAt":`, st.AskedAt, ok)
	if st.SkipBake != nil && err == nil {
		b, err = appendJSON(b, `,"skipBake":`, st.SkipBake)
	}
	if st.Bake != nil && err == nil {
		b, err = appendJSON(b, `,"bake":`, st.Bake)
	}
	if len(st.Evidence) > 0 && err == nil {
		b, err = appendJSON(b, `,"evidence":`, st.Evidence)
	}
	if st.BakeNote != "" {
		b = append(b, `,"bakeNote":`...)
		b = appendString(b, st.BakeNote)
	}
	if st.Polled {
		b = append(b, `,"polled":true`...)
	}
	b, ok = appendTime(b, `,"nextJudge":`, st.NextJudge, ok)
	if st.Verdict != nil && err == nil {
		b, err = appendJSON(b, `,"verdict":`, st.Verdict)
	}
	if st.Verify != nil && err == nil {
		b, err = appendJSON(b, `,"verify":`, st.Verify)
	}
	if st.Exposure != nil && err == nil {
		b, err = appendJSON(b, `,"exposure":`, st.Exposure)
	}
	b = append(b, `,"timings":`...)
	b = appendTimings(b, &st.Timings)
	if !ok || err != nil {
		// A time encoding/json refuses, or a field that does not
		// encode: encoding/json says what.
		j, err := json.Marshal(st)
		if err != nil {
			return b[:start], err
		}
		return append(b[:start], j...), nil
	}
	return append(b, '}'), nil
}

// appendTime appends key and t as encoding/json would with omitzero, and
// reports false (with ok) for a time outside the years encoding/json
// accepts.
func appendTime(b []byte, key string, t time.Time, ok bool) ([]byte, bool) {
	if t.IsZero() {
		return b, ok
	}
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	b = append(b, key...)
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), ok
}

// appendJSON appends key and v's encoding.
func appendJSON(b []byte, key string, v any) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	b = append(b, key...)
	return append(b, j...), nil
}

// appendTimings appends t as encoding/json would.
func appendTimings(b []byte, t *Timings) []byte {
	b = append(b, '{')
	first := true
	for _, f := range [...]struct {
		key string
		d   duration.Duration
	}{
		{`"blocked":`, t.Blocked}, {`"approval":`, t.Approval}, {`"deploying":`, t.Deploying},
		{`"baking":`, t.Baking}, {`"judging":`, t.Judging}, {`"verifying":`, t.Verifying},
		{`"paused":`, t.Paused}, {`"rollingBack":`, t.RollingBack},
	} {
		if f.d == 0 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, f.key...)
		b = appendString(b, f.d.String())
	}
	return append(b, '}')
}
