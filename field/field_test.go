package field_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/field"
)

var errInvalid = errors.New("demo: invalid value")

func TestList(t *testing.T) {
	var l field.List
	if l.Err() != nil {
		t.Fatal("empty list has an error")
	}
	l.Add(errInvalid, "policy.Batch", "is %d, want at least 1", 0)
	l.Add(errInvalid, "policy.Growth", "is NaN")
	err := l.Err()
	if !errors.Is(err, errInvalid) {
		t.Fatal("errors.Is lost the sentinel")
	}
	want := "demo: policy.Batch: is 0, want at least 1\ndemo: policy.Growth: is NaN"
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
	paths := []string{}
	for _, fe := range field.All(err) {
		paths = append(paths, fe.Path)
	}
	if diff := cmp.Diff([]string{"policy.Batch", "policy.Growth"}, paths); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
}

func TestListBounded(t *testing.T) {
	var l field.List
	for i := range field.MaxProblems + 5 {
		l.Add(errInvalid, fmt.Sprintf("targets[%d]", i), "bad")
	}
	if got := len(field.All(l.Err())); got != field.MaxProblems {
		t.Errorf("kept %d problems, want %d", got, field.MaxProblems)
	}
	if l.Len() != field.MaxProblems+5 {
		t.Errorf("Len = %d", l.Len())
	}
}

func TestPrefixAndMerge(t *testing.T) {
	var inner field.List
	inner.Add(errInvalid, "MaxFraction", "is 2")
	inner.Add(errInvalid, "[3].Weight", "is -1")
	var outer field.List
	outer.Merge(field.Prefix("plan", inner.Err()))
	outer.Merge(errors.New("other: not a field error"))
	got := outer.Err().Error()
	want := "demo: plan.MaxFraction: is 2\ndemo: plan[3].Weight: is -1\nother: not a field error"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !errors.Is(outer.Err(), errInvalid) {
		t.Error("sentinel lost through Prefix and Merge")
	}
}

func ExampleList() {
	var l field.List
	l.Add(errInvalid, "policy.Bake.MinDuration", "is -5m; a bake cannot be negative (say \"none\" for no bake)")
	err := l.Err()
	fmt.Println(err)
	fmt.Println(errors.Is(err, errInvalid))
	// Output:
	// demo: policy.Bake.MinDuration: is -5m; a bake cannot be negative (say "none" for no bake)
	// true
}
