package alarm

import (
	"errors"
	"hash/fnv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExpressionPrecedence(t *testing.T) {
	states := map[string]State{"a": Alarm, "b": OK, "c": InsufficientData, "my alarm": Alarm}
	state := func(n string) State { return states[n] }
	tests := []struct {
		expr      string
		want      bool
		canonical string
	}{
		{"TRUE", true, "TRUE"},
		{"FALSE", false, "FALSE"},
		{"ALARM(a)", true, "ALARM(a)"},
		{"OK(a)", false, "OK(a)"},
		{"OK(b)", true, "OK(b)"},
		{"INSUFFICIENT_DATA(c)", true, "INSUFFICIENT_DATA(c)"},
		{`ALARM("my alarm")`, true, `ALARM("my alarm")`},
		{`ALARM( "a" )`, true, "ALARM(a)"},
		// NOT binds tighter than AND, AND tighter than OR.
		{"NOT ALARM(a) AND ALARM(b)", false, "NOT ALARM(a) AND ALARM(b)"},
		{"NOT (ALARM(a) AND ALARM(b))", true, "NOT (ALARM(a) AND ALARM(b))"},
		{"TRUE OR TRUE AND FALSE", true, "TRUE OR (TRUE AND FALSE)"},
		{"(TRUE OR TRUE) AND FALSE", false, "(TRUE OR TRUE) AND FALSE"},
		{"FALSE AND FALSE OR TRUE", true, "(FALSE AND FALSE) OR TRUE"},
		{"FALSE AND (FALSE OR TRUE)", false, "FALSE AND (FALSE OR TRUE)"},
		{"NOT FALSE OR FALSE", true, "NOT FALSE OR FALSE"},
		{"NOT (FALSE OR TRUE)", false, "NOT (FALSE OR TRUE)"},
		{"NOT NOT TRUE", true, "NOT NOT TRUE"},
		{"ALARM(a) OR (ALARM(b) AND NOT OK(c))", true, "ALARM(a) OR (ALARM(b) AND NOT OK(c))"},
		{"ALARM(a) OR ALARM(b) OR ALARM(c)", true, "ALARM(a) OR ALARM(b) OR ALARM(c)"},
		{"ALARM(a) OR (ALARM(b) OR ALARM(c))", true, "ALARM(a) OR (ALARM(b) OR ALARM(c))"},
		{"OK(a) OR OK(b) AND NOT OK(c)", true, "OK(a) OR (OK(b) AND NOT OK(c))"},
		{"(OK(a) OR OK(b)) AND NOT OK(c)", true, "(OK(a) OR OK(b)) AND NOT OK(c)"},
		{"((((ALARM(a)))))", true, "ALARM(a)"},
		// Left associativity is kept; a right-nested group keeps its
		// parentheses.
		{"TRUE AND (FALSE AND TRUE)", false, "TRUE AND (FALSE AND TRUE)"},
		{"(TRUE AND FALSE) AND TRUE", false, "TRUE AND FALSE AND TRUE"},
		{"ALARM(AND) OR OK(NOT)", false, "ALARM(AND) OR OK(NOT)"}, // names, not keywords
		{"ALARM(a-b.c:d/e)", false, "ALARM(a-b.c:d/e)"},
		{`ALARM("quo\"te\\")`, false, `ALARM("quo\"te\\")`},
	}
	for _, tt := range tests {
		e, err := ParseExpression(tt.expr)
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		if got := e.Eval(state); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.expr, got, tt.want)
		}
		if got := e.String(); got != tt.canonical {
			t.Errorf("%s: String() = %s, want %s", tt.expr, got, tt.canonical)
		}
	}
}

func TestExpressionErrors(t *testing.T) {
	tests := []struct {
		expr string
		pos  int
		msg  string
	}{
		{"", 1, "expression ends where a term was expected"},
		{"ALARM(a", 8, `expected ")" after the alarm name in ALARM()`},
		{"ALARM a", 7, `expected "(" after ALARM`},
		{"ALARM()", 7, "expected an alarm name in ALARM()"},
		{`ALARM("")`, 7, "empty alarm name"},
		{"ALARM(a) AND", 13, "expression ends where a term was expected"},
		{"ALARM(a) and OK(b)", 10, `unexpected "and" after a complete expression`},
		{"alarm(a)", 1, `unknown word "alarm": keywords are upper case (ALARM)`},
		{"true", 1, "keywords are upper case (TRUE)"},
		{"ALARM(a) OR OR OK(b)", 13, "unexpected OR where a term was expected"},
		{"(ALARM(a)", 10, `expected ")" to close the "(" at position 1`},
		{"ALARM(a))", 9, `unexpected ")" after a complete expression`},
		{`ALARM("a)`, 7, "unterminated quoted name"},
		{`ALARM("a\n")`, 9, "invalid escape"},
		{"ALARM(a, b)", 8, `unexpected ","`},
		{"WARN(a)", 1, `unknown word "WARN"`},
		{`"a"`, 1, "a name must be inside ALARM()"},
		{"ALARM(a) OK(b)", 10, "unexpected \"OK\" after a complete expression"},
		{strings.Repeat("(", 101) + "TRUE" + strings.Repeat(")", 101), 101, "nests deeper than 100 levels"},
		{strings.Repeat("NOT ", 101) + "TRUE", 401, "nests deeper than 100 levels"},
		{strings.Repeat("A", 10241), 10241, "longer than 10240 bytes"},
	}
	for _, tt := range tests {
		_, err := ParseExpression(tt.expr)
		var se *SyntaxError
		if !errors.As(err, &se) || !errors.Is(err, ErrSyntax) {
			t.Errorf("%.40q: got %v, want a SyntaxError", tt.expr, err)
			continue
		}
		if se.Pos != tt.pos || !strings.Contains(se.Msg, tt.msg) {
			t.Errorf("%.40q: got position %d %q, want position %d containing %q", tt.expr, se.Pos, se.Msg, tt.pos, tt.msg)
		}
		if !strings.HasPrefix(err.Error(), "alarm: composite expression: position ") {
			t.Errorf("message %q", err)
		}
	}
	// Deep but within bounds is fine.
	if _, err := ParseExpression(strings.Repeat("(", 100) + "TRUE" + strings.Repeat(")", 100)); err != nil {
		t.Error(err)
	}
}

func TestExpressionNames(t *testing.T) {
	e, err := ParseExpression(`ALARM(b) OR OK("a") AND NOT INSUFFICIENT_DATA(b) OR TRUE`)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, e.Names()); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
}

func TestCompositeEvaluate(t *testing.T) {
	c := Composite{Expression: `ALARM(errors) OR (ALARM(latency) AND NOT OK("canary 1"))`}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	got := c.Evaluate(t0, map[string]State{"errors": OK, "latency": Alarm, "canary 1": InsufficientData})
	want := Result{State: Alarm, Time: t0,
		Reason: `ALARM(errors) OR (ALARM(latency) AND NOT OK("canary 1")) is true: "canary 1" is INSUFFICIENT_DATA, errors is OK, latency is ALARM`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	got = c.Evaluate(t0, map[string]State{"errors": OK, "latency": OK, "canary 1": OK})
	if got.State != OK {
		t.Errorf("all OK: got %s", got.State)
	}
	bad := Composite{Expression: "ALARM("}
	var fe *FieldError
	if err := bad.Validate(); !errors.As(err, &fe) || fe.Path != "Composite.Expression" || !errors.Is(err, ErrSyntax) {
		t.Errorf("Validate = %v", err)
	}
	if got := bad.Evaluate(t0, nil); got.State != InsufficientData {
		t.Errorf("invalid expression evaluated to %s", got.State)
	}
}

// stateOf derives a state from a name, so that fuzzed expressions can be
// evaluated without a table.
func stateOf(name string) State {
	h := fnv.New32a()
	h.Write([]byte(name))
	return State(h.Sum32() % 3)
}

func FuzzParseExpression(f *testing.F) {
	for _, s := range []string{
		"ALARM(a) OR (ALARM(b) AND NOT OK(c))",
		`INSUFFICIENT_DATA("x y") AND TRUE OR FALSE`,
		"NOT NOT (TRUE)",
		`ALARM("a\"b\\c")`,
		"ALARM(a",
		"((",
		"OK(a) AND AND",
		"ALARM(é) OR OK(\xff)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpression(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Pos < 1 || se.Pos > len(s)+1 {
				t.Fatalf("%q: error %v has no position within the input", s, err)
			}
			return
		}
		canon := e.String()
		again, err := ParseExpression(canon)
		if err != nil {
			if len(canon) > maxExpressionLen {
				return // quoting made it longer than the limit
			}
			t.Fatalf("%q: canonical form %q does not parse: %v", s, canon, err)
		}
		if again.String() != canon {
			t.Fatalf("canonical form is not stable: %q then %q", canon, again.String())
		}
		if e.Eval(stateOf) != again.Eval(stateOf) {
			t.Fatalf("%q and its canonical form %q disagree", s, canon)
		}
		if diff := cmp.Diff(e.Names(), again.Names()); diff != "" {
			t.Fatalf("names differ (-orig +canonical):\n%s", diff)
		}
	})
}
