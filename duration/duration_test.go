package duration_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/duration"
)

func TestJSON(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: `"1h30m"`, want: 90 * time.Minute},
		{in: `"0s"`, want: 0},
		{in: `"-2h"`, want: -2 * time.Hour},
		{in: `3600000000000`, want: time.Hour},
		{in: `"1 hour"`, wantErr: true},
		{in: `true`, wantErr: true},
		{in: `{}`, wantErr: true},
		{in: `1e300`, wantErr: true},
		{in: `1.5`, wantErr: true},
		{in: `"`, wantErr: true},
	} {
		var d duration.Duration
		err := json.Unmarshal([]byte(tc.in), &d)
		if (err != nil) != tc.wantErr {
			t.Errorf("Unmarshal(%s): error %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && d.Std() != tc.want {
			t.Errorf("Unmarshal(%s) = %v, want %v", tc.in, d, tc.want)
		}
	}
}

func FuzzJSON(f *testing.F) {
	for _, s := range []string{`"1h"`, `"-1.5s"`, `12`, `null`, `"9999999999h"`, `1e300`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d duration.Duration
		if err := json.Unmarshal([]byte(s), &d); err != nil {
			return
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("Marshal(%v): %v", d, err)
		}
		var back duration.Duration
		if err := json.Unmarshal(b, &back); err != nil || back != d {
			t.Fatalf("round trip of %v through %s gave %v, %v", d, b, back, err)
		}
	})
}

func Example() {
	var policy struct {
		Bake duration.Duration `json:"bake"`
	}
	_ = json.Unmarshal([]byte(`{"bake": "1h30m"}`), &policy)
	fmt.Println(policy.Bake.Std().Minutes())
	out, _ := json.Marshal(policy)
	fmt.Println(string(out))
	// Output:
	// 90
	// {"bake":"1h30m0s"}
}
