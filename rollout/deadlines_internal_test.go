package rollout

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestSharedDeadlines: calls that start together share a deadline, never
// a later one than their own; a call with values or a deadline of its own
// does not share; the shared context answers for the call exactly.
func TestSharedDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		round, cancel := context.WithCancel(t.Context())
		defer cancel()
		var d deadlines
		d.reset(round)
		defer d.reset(nil)
		call := func(plain bool) (*roundCall, context.Context) {
			c := &roundCall{plain: plain}
			return c, context.WithValue(round, roundCallKey{}, c)
		}
		const timeout = 15 * time.Minute
		c1, ctx1 := call(true)
		s1, at1 := d.get(ctx1, timeout)
		if s1 == nil || !at1.Equal(time.Now().Add(timeout)) {
			t.Fatalf("first call: %v at %v, want its own deadline", s1, at1)
		}
		time.Sleep(500 * time.Millisecond) // within a thousandth of 15m
		_, ctx2 := call(true)
		s2, at2 := d.get(ctx2, timeout)
		if s2 == nil || !at2.Equal(at1) {
			t.Fatalf("second call: deadline %v, want the first's %v", at2, at1)
		}
		if want := time.Now().Add(timeout); at2.After(want) {
			t.Fatalf("shared deadline %v is later than the call's own %v", at2, want)
		}
		time.Sleep(time.Second)
		_, ctx3 := call(true)
		if _, at3 := d.get(ctx3, timeout); !at3.Equal(time.Now().Add(timeout)) {
			t.Errorf("a call 1.5s later: deadline %v, want its own", at3)
		}
		if _, ctx4 := call(false); func() bool { s, _ := d.get(ctx4, timeout); return s != nil }() {
			t.Errorf("a call with a span of its own shares a deadline")
		}
		own, cancelOwn := context.WithTimeout(ctx1, time.Hour)
		defer cancelOwn()
		if s, _ := d.get(own, timeout); s != nil {
			t.Errorf("a call with a deadline of its own shares one")
		}
		if got := s1.Value(roundCallKey{}); got != c1 {
			t.Errorf("Value(roundCallKey) = %v, want the call's", got)
		}
		if dl, ok := s1.Deadline(); !ok || !dl.Equal(at1) {
			t.Errorf("Deadline() = %v, %v", dl, ok)
		}
		time.Sleep(time.Until(at1) + time.Millisecond)
		<-s1.Done()
		if !errors.Is(s1.Err(), context.DeadlineExceeded) || !errors.Is(context.Cause(s1), context.DeadlineExceeded) {
			t.Errorf("after the deadline: Err %v, Cause %v; want the deadline exceeded", s1.Err(), context.Cause(s1))
		}
		if round.Err() != nil {
			t.Errorf("the round's context ended with a call's deadline")
		}
	})
}
