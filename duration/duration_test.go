package duration_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/duration"
)

func TestUnmarshalJSON(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    duration.Duration
		wantErr string // the whole message; "" for no error
	}{
		{in: `"1h30m"`, want: duration.Duration(90 * time.Minute)},
		{in: `"0s"`, want: 0},
		{in: `"0"`, want: 0},
		{in: `"-2h"`, want: duration.Duration(-2 * time.Hour)},
		{in: ` "45s" `, want: duration.Duration(45 * time.Second)},
		{in: `"none"`, want: duration.None},
		{in: `null`, want: 7}, // left alone, as encoding/json does
		{in: `30`, wantErr: `duration: invalid duration: the bare number 30 has no unit; write a string such as "30s" or "30m"`},
		{in: `0`, wantErr: `duration: invalid duration: the bare number 0 has no unit; write a string such as "0s" or "0m"`},
		{in: `3600000000000`, wantErr: `duration: invalid duration: the bare number 3600000000000 has no unit; write a string such as "3600000000000s" or "3600000000000m"`},
		{in: `-1.5`, wantErr: `duration: invalid duration: the bare number -1.5 has no unit; write a string such as "-1.5s" or "-1.5m"`},
		{in: `"30"`, wantErr: `duration: invalid duration: "30" has no unit; write one, such as "30s" or "30m" (or "none" where a field allows it)`},
		{in: `"1 hour"`, wantErr: `duration: invalid duration: "1 hour" is not a duration such as "90s", "30m" or "1h30m"`},
		{in: `"None"`, wantErr: `duration: invalid duration: "None" is not a duration such as "90s", "30m" or "1h30m"`},
		{in: `"-2562047h47m16.854775808s"`, wantErr: `duration: invalid duration: "-2562047h47m16.854775808s" is out of range`},
		{in: `"9999999999h"`, wantErr: `duration: invalid duration: "9999999999h" is not a duration such as "90s", "30m" or "1h30m"`},
		{in: `true`, wantErr: `duration: invalid duration: want a string such as "1h30m", got true`},
		{in: `{}`, wantErr: `duration: invalid duration: want a string such as "1h30m", got {}`},
	} {
		d := duration.Duration(7)
		err := json.Unmarshal([]byte(tc.in), &d)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr || !errors.Is(err, duration.ErrSyntax) {
				t.Errorf("Unmarshal(%s) = %v, %v; want error %q wrapping ErrSyntax", tc.in, d, err, tc.wantErr)
			}
			continue
		}
		if err != nil || d != tc.want {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", tc.in, d, err, tc.want)
		}
	}
}

// TestInStruct checks the error a policy author sees: the field and the fix.
func TestInStruct(t *testing.T) {
	var p struct {
		OneBox duration.Duration `json:"oneBox"`
	}
	err := json.Unmarshal([]byte(`{"oneBox": 30}`), &p)
	if err == nil || !strings.Contains(err.Error(), `"30s"`) || !errors.Is(err, duration.ErrSyntax) {
		t.Errorf("Unmarshal = %v, want an error that suggests \"30s\"", err)
	}
}

func TestNone(t *testing.T) {
	if got := duration.None.String(); got != "none" {
		t.Errorf("None.String() = %q", got)
	}
	b, err := json.Marshal(struct{ D duration.Duration }{duration.None})
	if err != nil || string(b) != `{"D":"none"}` {
		t.Errorf("Marshal(None) = %s, %v", b, err)
	}
	if !duration.None.IsNone() || duration.Duration(0).IsNone() || duration.Duration(-1).IsNone() {
		t.Error("IsNone is true only for None")
	}
	if duration.None >= 0 {
		t.Error("None is not negative: fields that reject negative durations would accept it")
	}
	if d, err := duration.Parse("none"); err != nil || d != duration.None {
		t.Errorf(`Parse("none") = %v, %v`, d, err)
	}
}

func TestMarshalJSON(t *testing.T) {
	got := []string{}
	for _, d := range []duration.Duration{0, duration.Duration(90 * time.Minute), duration.Duration(-time.Second), duration.None, duration.Duration(math.MaxInt64)} {
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(b))
	}
	want := []string{`"0s"`, `"1h30m0s"`, `"-1s"`, `"none"`, `"2562047h47m16.854775807s"`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Marshal (-want +got):\n%s", diff)
	}
}

// FuzzJSON checks that decoding never panics, that every error names the
// kind (ErrSyntax), that a bare number is never accepted, and that what
// decodes encodes back to the same duration.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`"1h"`, `"-1.5s"`, `12`, `null`, `"9999999999h"`, `1e300`, `"none"`, `"0"`, `"30"`,
		`"-2562047h47m16.854775808s"`, `"2562047h47m16.854775807s"`, ` 1 `, `-0`, `"\u006eone"`, `[]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d duration.Duration
		err := json.Unmarshal([]byte(s), &d)
		if err != nil {
			var se *json.SyntaxError
			if !errors.Is(err, duration.ErrSyntax) && !errors.As(err, &se) {
				t.Fatalf("Unmarshal(%q) error %v wraps neither ErrSyntax nor a JSON syntax error", s, err)
			}
			return
		}
		if v := strings.TrimSpace(s); v != "" && (v[0] == '-' || v[0] >= '0' && v[0] <= '9') {
			t.Fatalf("Unmarshal(%q) accepted a bare number as %v", s, d)
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

	err := json.Unmarshal([]byte(`{"bake": 30}`), &policy)
	fmt.Println(err)
	// Output:
	// 90
	// {"bake":"1h30m0s"}
	// duration: invalid duration: the bare number 30 has no unit; write a string such as "30s" or "30m"
}

// ExampleNone shows the explicit "no bake" of fields that allow it.
func ExampleNone() {
	var bake struct {
		OneBox duration.Duration `json:"oneBox"`
	}
	_ = json.Unmarshal([]byte(`{"oneBox": "none"}`), &bake)
	fmt.Println(bake.OneBox.IsNone(), bake.OneBox)
	// Output:
	// true none
}
