package alarm

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Composite is an alarm whose state is an expression over the states of
// other alarms, in CloudWatch's composite alarm language:
//
//	ALARM(errors) OR (ALARM("p99 latency") AND NOT OK(canary))
//
// The terms are:
//
//   - ALARM(name), OK(name), INSUFFICIENT_DATA(name): true when the named
//     alarm is in that state.
//   - TRUE and FALSE.
//   - NOT x, x AND y, x OR y, and parentheses. NOT binds tightest, then AND,
//     then OR, so "NOT a AND b OR c" means "((NOT a) AND b) OR c".
//     CloudWatch's documentation gives no precedence; write parentheses when
//     an expression mixes AND and OR, and it reads the same everywhere.
//
// Keywords are upper case. A name is either bare (any run of characters
// other than spaces, parentheses, commas and double quotes) or in double
// quotes, with \" and \\ as escapes. Expressions are at most 10,240 bytes,
// as in CloudWatch, and nest at most 100 levels deep.
//
// The composite is in ALARM when the expression is true and OK otherwise,
// as in CloudWatch: an INSUFFICIENT_DATA child makes ALARM(child) false. To
// fail closed on missing evidence, say so: ALARM(x) OR INSUFFICIENT_DATA(x).
//
// A composite is evaluated within a [Set], which rejects unknown names and
// cycles when it is built.
type Composite struct {
	// Expression is the rule. Required.
	Expression string `json:"expression"`
}

// Validate reports whether the expression parses, as a [*FieldError] that
// wraps the [*SyntaxError].
func (c Composite) Validate() error {
	p := problems{prefix: "Composite."}
	c.validate(&p)
	return p.err()
}

func (c *Composite) validate(p *problems) {
	if _, err := ParseExpression(c.Expression); err != nil {
		// The syntax error is the sentinel, so that errors.As finds its
		// position; the problem says it without the package prefix the
		// field error already prints.
		problem := err.Error()
		if se, ok := err.(*SyntaxError); ok {
			problem = fmt.Sprintf("syntax error at position %d: %s", se.Pos, se.Msg)
		}
		p.list.Merge(&FieldError{Path: p.base + p.prefix + "Expression", Problem: problem, Err: err})
	}
}

// Evaluate returns the composite's state at now given the states of the
// alarms it names. A name missing from states counts as INSUFFICIENT_DATA;
// a [Set] never lets that happen. An expression that does not parse
// evaluates as INSUFFICIENT_DATA with the parse error as its reason.
func (c Composite) Evaluate(now time.Time, states map[string]State) Result {
	e, err := ParseExpression(c.Expression)
	if err != nil {
		return Result{State: InsufficientData, Reason: "expression is invalid: " + err.Error(), Time: now}
	}
	return e.evaluate(now, func(name string) State { return states[name] })
}

// SyntaxError is a composite expression that does not parse. Pos is the
// 1-based byte position of the problem.
type SyntaxError struct {
	// Expr is the expression that failed to parse.
	Expr string
	// Pos is the 1-based byte position of the problem in Expr.
	Pos int
	// Msg says what was expected and what was found.
	Msg string
}

// Error formats the error as "alarm: composite expression: position N:
// message".
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("alarm: composite expression: position %d: %s", e.Pos, e.Msg)
}

// Unwrap returns [ErrSyntax].
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

const (
	maxExpressionLen   = 10240
	maxExpressionDepth = 100
)

// Expression is a parsed composite expression. It is immutable and safe for
// concurrent use.
type Expression struct {
	root  *node
	names []string // distinct, sorted
}

type nodeKind uint8

const (
	nodeTrue nodeKind = iota
	nodeFalse
	nodeState // state(name)
	nodeNot
	nodeAnd
	nodeOr
)

type node struct {
	kind        nodeKind
	state       State  // for nodeState
	name        string // for nodeState
	left, right *node
}

// ParseExpression parses a composite expression (see [Composite] for the
// language). Errors are [*SyntaxError] values that name the position.
func ParseExpression(s string) (*Expression, error) {
	if len(s) > maxExpressionLen {
		return nil, &SyntaxError{Expr: s, Pos: maxExpressionLen + 1, Msg: fmt.Sprintf("expression is longer than %d bytes", maxExpressionLen)}
	}
	p := parser{src: s}
	p.advance()
	root := p.parseOr(0)
	if p.err == nil && p.tok.kind != tokEOF {
		p.fail(p.tok.pos, "unexpected %s after a complete expression", p.tok.describe())
	}
	if p.err != nil {
		return nil, p.err
	}
	seen := map[string]bool{}
	var names []string
	var walk func(n *node)
	walk = func(n *node) {
		if n == nil {
			return
		}
		if n.kind == nodeState && !seen[n.name] {
			seen[n.name] = true
			names = append(names, n.name)
		}
		walk(n.left)
		walk(n.right)
	}
	walk(root)
	slices.Sort(names)
	return &Expression{root: root, names: names}, nil
}

// Names returns the distinct alarm names the expression refers to, sorted.
func (e *Expression) Names() []string { return slices.Clone(e.names) }

// Eval evaluates the expression given each named alarm's state.
func (e *Expression) Eval(state func(name string) State) bool { return e.root.eval(state) }

func (n *node) eval(state func(string) State) bool {
	switch n.kind {
	case nodeTrue:
		return true
	case nodeFalse:
		return false
	case nodeState:
		return state(n.name) == n.state
	case nodeNot:
		return !n.left.eval(state)
	case nodeAnd:
		return n.left.eval(state) && n.right.eval(state)
	case nodeOr:
		return n.left.eval(state) || n.right.eval(state)
	}
	return false
}

// String returns the expression in canonical form: keywords upper case,
// names quoted only where they need it, and parentheses where the
// precedence requires them and around every AND inside an OR. Parsing the
// result gives an equivalent expression.
func (e *Expression) String() string {
	var b strings.Builder
	e.root.write(&b, 0)
	return b.String()
}

// precedence of a node's operator: OR 1, AND 2, NOT 3, atoms 4.
func (n *node) prec() int {
	switch n.kind {
	case nodeOr:
		return 1
	case nodeAnd:
		return 2
	case nodeNot:
		return 3
	}
	return 4
}

func (n *node) write(b *strings.Builder, parent int) {
	paren := n.prec() < parent
	if paren {
		b.WriteByte('(')
	}
	switch n.kind {
	case nodeTrue:
		b.WriteString("TRUE")
	case nodeFalse:
		b.WriteString("FALSE")
	case nodeState:
		b.WriteString(n.state.String())
		b.WriteByte('(')
		b.WriteString(quoteName(n.name))
		b.WriteByte(')')
	case nodeNot:
		b.WriteString("NOT ")
		n.left.write(b, 3)
	case nodeAnd:
		// AND and OR are left-associative: a right operand of the same
		// precedence needs parentheses to keep its grouping.
		n.left.write(b, 2)
		b.WriteString(" AND ")
		n.right.write(b, 3)
	case nodeOr:
		// An AND inside an OR is parenthesized although precedence does not
		// require it, so that the canonical form reads the same under any
		// convention.
		if n.left.kind == nodeAnd {
			n.left.write(b, 3)
		} else {
			n.left.write(b, 1)
		}
		b.WriteString(" OR ")
		n.right.write(b, 3)
	}
	if paren {
		b.WriteByte(')')
	}
}

// quoteName returns name bare when it lexes as a bare name, and quoted
// otherwise.
func quoteName(name string) string {
	if name != "" && !strings.ContainsFunc(name, func(r rune) bool { return !isBareRune(r) }) {
		return name
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(name); i++ {
		if c := name[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(name[i])
	}
	b.WriteByte('"')
	return b.String()
}

func isBareRune(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\f', '\v', '(', ')', '"', ',':
		return false
	}
	return true
}

// evaluate renders a composite result with a reason that names the state
// of every alarm the expression refers to.
func (e *Expression) evaluate(now time.Time, state func(string) State) Result {
	v := e.Eval(state)
	res := Result{State: OK, Time: now}
	var b strings.Builder
	b.WriteString(e.String())
	if v {
		res.State = Alarm
		b.WriteString(" is true")
	} else {
		b.WriteString(" is false")
	}
	for i, n := range e.names {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(quoteName(n))
		b.WriteString(" is ")
		b.WriteString(state(n).String())
	}
	res.Reason = b.String()
	return res
}

// Lexer and recursive-descent parser.

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokLParen
	tokRParen
	tokWord   // keyword or bare name
	tokQuoted // quoted name
)

type token struct {
	kind tokKind
	pos  int // 1-based
	text string
}

func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokLParen:
		return `"("`
	case tokRParen:
		return `")"`
	case tokQuoted:
		return "quoted name " + strconv.Quote(t.text)
	}
	return strconv.Quote(t.text)
}

type parser struct {
	src string
	off int // byte offset of the next unread byte
	tok token
	err *SyntaxError
}

func (p *parser) fail(pos int, format string, args ...any) {
	if p.err == nil {
		p.err = &SyntaxError{Expr: p.src, Pos: pos, Msg: fmt.Sprintf(format, args...)}
	}
	p.tok = token{kind: tokEOF, pos: pos}
}

// advance reads the next token into p.tok.
func (p *parser) advance() {
	if p.err != nil {
		return
	}
	for p.off < len(p.src) && strings.IndexByte(" \t\n\r\f\v", p.src[p.off]) >= 0 {
		p.off++
	}
	start := p.off
	if p.off >= len(p.src) {
		p.tok = token{kind: tokEOF, pos: start + 1}
		return
	}
	switch c := p.src[p.off]; c {
	case '(':
		p.off++
		p.tok = token{kind: tokLParen, pos: start + 1}
	case ')':
		p.off++
		p.tok = token{kind: tokRParen, pos: start + 1}
	case ',':
		p.fail(start+1, `unexpected ","; a function takes one alarm name`)
	case '"':
		var b strings.Builder
		p.off++
		for {
			if p.off >= len(p.src) {
				p.fail(start+1, "unterminated quoted name")
				return
			}
			c := p.src[p.off]
			if c == '"' {
				p.off++
				break
			}
			if c == '\\' {
				if p.off+1 >= len(p.src) || (p.src[p.off+1] != '"' && p.src[p.off+1] != '\\') {
					p.fail(p.off+1, `invalid escape in quoted name (only \" and \\ are allowed)`)
					return
				}
				p.off++
				c = p.src[p.off]
			}
			b.WriteByte(c)
			p.off++
		}
		p.tok = token{kind: tokQuoted, pos: start + 1, text: b.String()}
	default:
		for p.off < len(p.src) && isBareByte(p.src[p.off]) {
			p.off++
		}
		p.tok = token{kind: tokWord, pos: start + 1, text: p.src[start:p.off]}
	}
}

func isBareByte(c byte) bool { return isBareRune(rune(c)) }

func (p *parser) parseOr(depth int) *node {
	left := p.parseAnd(depth)
	for p.err == nil && p.tok.kind == tokWord && p.tok.text == "OR" {
		p.advance()
		right := p.parseAnd(depth)
		left = &node{kind: nodeOr, left: left, right: right}
	}
	return left
}

func (p *parser) parseAnd(depth int) *node {
	left := p.parseNot(depth)
	for p.err == nil && p.tok.kind == tokWord && p.tok.text == "AND" {
		p.advance()
		right := p.parseNot(depth)
		left = &node{kind: nodeAnd, left: left, right: right}
	}
	return left
}

func (p *parser) parseNot(depth int) *node {
	if p.err == nil && p.tok.kind == tokWord && p.tok.text == "NOT" {
		if depth >= maxExpressionDepth {
			p.fail(p.tok.pos, "expression nests deeper than %d levels", maxExpressionDepth)
			return nil
		}
		p.advance()
		return &node{kind: nodeNot, left: p.parseNot(depth + 1)}
	}
	return p.parsePrimary(depth)
}

var stateFuncs = map[string]State{
	"ALARM":             Alarm,
	"OK":                OK,
	"INSUFFICIENT_DATA": InsufficientData,
}

func (p *parser) parsePrimary(depth int) *node {
	if p.err != nil {
		return nil
	}
	t := p.tok
	switch t.kind {
	case tokEOF:
		p.fail(t.pos, "expression ends where a term was expected (TRUE, FALSE, ALARM(name), OK(name), INSUFFICIENT_DATA(name), NOT or \"(\")")
		return nil
	case tokRParen:
		p.fail(t.pos, `unexpected ")" where a term was expected`)
		return nil
	case tokQuoted:
		p.fail(t.pos, "unexpected %s: a name must be inside ALARM(), OK() or INSUFFICIENT_DATA()", t.describe())
		return nil
	case tokLParen:
		if depth >= maxExpressionDepth {
			p.fail(t.pos, "expression nests deeper than %d levels", maxExpressionDepth)
			return nil
		}
		p.advance()
		inner := p.parseOr(depth + 1)
		if p.err != nil {
			return nil
		}
		if p.tok.kind != tokRParen {
			p.fail(p.tok.pos, `expected ")" to close the "(" at position %d, found %s`, t.pos, p.tok.describe())
			return nil
		}
		p.advance()
		return inner
	}
	switch t.text {
	case "TRUE":
		p.advance()
		return &node{kind: nodeTrue}
	case "FALSE":
		p.advance()
		return &node{kind: nodeFalse}
	case "AND", "OR":
		p.fail(t.pos, "unexpected %s where a term was expected", t.text)
		return nil
	}
	st, ok := stateFuncs[t.text]
	if !ok {
		if _, lower := stateFuncs[strings.ToUpper(t.text)]; lower || isKeyword(strings.ToUpper(t.text)) {
			p.fail(t.pos, "unknown word %q: keywords are upper case (%s)", t.text, strings.ToUpper(t.text))
		} else {
			p.fail(t.pos, "unknown word %q (want TRUE, FALSE, ALARM(name), OK(name), INSUFFICIENT_DATA(name), NOT or \"(\"; names go inside a function)", t.text)
		}
		return nil
	}
	p.advance()
	if p.tok.kind != tokLParen {
		p.fail(p.tok.pos, `expected "(" after %s, found %s`, t.text, p.tok.describe())
		return nil
	}
	p.advance()
	name := p.tok
	if name.kind != tokWord && name.kind != tokQuoted {
		p.fail(name.pos, "expected an alarm name in %s(), found %s", t.text, name.describe())
		return nil
	}
	if name.text == "" {
		p.fail(name.pos, "empty alarm name in %s()", t.text)
		return nil
	}
	p.advance()
	if p.tok.kind != tokRParen {
		p.fail(p.tok.pos, `expected ")" after the alarm name in %s(), found %s`, t.text, p.tok.describe())
		return nil
	}
	p.advance()
	return &node{kind: nodeState, state: st, name: name.text}
}

func isKeyword(w string) bool {
	switch w {
	case "AND", "OR", "NOT", "TRUE", "FALSE":
		return true
	}
	return false
}
