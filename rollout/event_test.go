package rollout_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/rollout"
)

func TestEventDurationsAreReadable(t *testing.T) {
	e := rollout.Event{Kind: rollout.EventUnblocked, Stage: "w1/r0", Duration: 90 * time.Minute,
		Blockers: map[string]time.Duration{"freeze": time.Hour, "alarm": 30 * time.Minute}}
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"duration":"1h30m0s"`, `"freeze":"1h0m0s"`, `"alarm":"30m0s"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("%s lacks %s", data, want)
		}
	}
	var back rollout.Event
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// Events written before durations were readable still decode.
	var old rollout.Event
	if err := json.Unmarshal([]byte(`{"kind":"unblocked","duration":5400000000000,"blockers":{"freeze":3600000000000}}`), &old); err != nil {
		t.Fatal(err)
	}
	if old.Duration != 90*time.Minute || old.Blockers["freeze"] != time.Hour {
		t.Errorf("old event decoded as %+v", old)
	}
	if err := json.Unmarshal([]byte(`{"kind":"unblocked","duration":"soon"}`), &old); err == nil || !strings.Contains(err.Error(), "duration") {
		t.Errorf("a bad duration decoded with error %v", err)
	}
}
