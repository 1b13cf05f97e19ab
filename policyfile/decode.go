package policyfile

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/yaml"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/field"
)

// maxDepth bounds the nesting of a file: no policy is deeper than a dozen
// levels, and a hostile file must not exhaust the stack.
const maxDepth = 100

// Unmarshal decodes a JSON or YAML document into v (a non-nil pointer),
// strictly: every key of the document must name a field of v's type (with
// the exact spelling of its JSON name), every value must have the field's
// type, and no key may appear twice in one object. It reports every problem
// at once, each a [*field.Error] whose path is the field's JSON path
// ("blockers.freezes[0].reason"); a key that is not a field comes with the
// closest known name. Durations need a unit ([duration.Duration]).
//
// A document whose first non-blank character is "{" is read as JSON, any
// other as YAML (converted to JSON first, so that the same field names and
// the same rules apply). Unmarshal does not validate the values: [Parse]
// does both for a [Policy]. It decodes into v only the fields it could read,
// so on error v is partly set and should be discarded.
//
// Teams can read their own configuration files with it, as cmd/shepherd
// reads its fleet and scenario files.
func Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("%w: Unmarshal needs a non-nil pointer, got %T", ErrInvalid, v)
	}
	js, isYAML, err := toJSON(data)
	if err != nil {
		return err
	}
	n, err := parseTree(js)
	if err != nil {
		return err
	}
	d := decoder{yaml: isYAML}
	d.decode(n, rv.Elem(), "")
	return d.list.Err()
}

// toJSON returns data as JSON: unchanged when it looks like JSON, converted
// when it is YAML.
func toJSON(data []byte) (js []byte, isYAML bool, err error) {
	if !utf8.Valid(data) {
		return nil, false, &field.Error{Problem: "the file is not UTF-8 text", Err: ErrSyntax}
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		// An empty file is an empty policy: every default.
		return []byte("{}"), false, nil
	}
	if trimmed[0] == '{' {
		return trimmed, false, nil
	}
	// YAMLToJSONStrict refuses duplicate keys, as the JSON reader does.
	js, err = yaml.YAMLToJSONStrict(data)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
		return nil, true, &field.Error{Problem: msg, Err: ErrSyntax}
	}
	if t := bytes.TrimSpace(js); len(t) == 0 || string(t) == "null" {
		return []byte("{}"), true, nil
	}
	return js, true, nil
}

// node is one value of a JSON document, with its object keys in the order
// of the JSON (so that a JSON file's problems are reported in the order a
// reader meets them; YAML's conversion sorts keys by name).
type node struct {
	kind byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	keys []string
	vals []*node
	str  string // a string's value, a number's literal
	b    bool
}

// what names a node's kind for messages.
func (n *node) what() string {
	switch n.kind {
	case 'o':
		return "an object"
	case 'a':
		return "a list"
	case 's':
		return fmt.Sprintf("the string %s", clip(strconv.Quote(n.str)))
	case 'n':
		return "the number " + clip(n.str)
	case 'b':
		return fmt.Sprintf("%t", n.b)
	}
	return "null"
}

// clip shortens a value quoted in a message.
func clip(s string) string {
	const max = 60
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}

// marshal writes n back as JSON, for the types that decode themselves.
func (n *node) marshal(b *bytes.Buffer) {
	switch n.kind {
	case 'o':
		b.WriteByte('{')
		for i, k := range n.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			q, _ := json.Marshal(k)
			b.Write(q)
			b.WriteByte(':')
			n.vals[i].marshal(b)
		}
		b.WriteByte('}')
	case 'a':
		b.WriteByte('[')
		for i, v := range n.vals {
			if i > 0 {
				b.WriteByte(',')
			}
			v.marshal(b)
		}
		b.WriteByte(']')
	case 's':
		q, _ := json.Marshal(n.str)
		b.Write(q)
	case 'n':
		b.WriteString(n.str)
	case 'b':
		b.WriteString(strconv.FormatBool(n.b))
	default:
		b.WriteString("null")
	}
}

// parseTree reads a JSON document into nodes, refusing duplicate keys and
// anything after the first value.
func parseTree(js []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var list field.List
	n, err := parseValue(dec, js, "", 0, &list)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &field.Error{Problem: "more than one value in the file" + at(js, dec.InputOffset()), Err: ErrSyntax}
	}
	if err := list.Err(); err != nil {
		return nil, err
	}
	return n, nil
}

func parseValue(dec *json.Decoder, js []byte, path string, depth int, list *field.List) (*node, error) {
	if depth > maxDepth {
		return nil, &field.Error{Path: path, Problem: fmt.Sprintf("nested more than %d levels deep", maxDepth), Err: ErrSyntax}
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(js, dec, err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &node{kind: 'o'}
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, syntaxError(js, dec, err)
				}
				k, ok := kt.(string)
				if !ok {
					return nil, &field.Error{Path: path, Problem: "an object key is not a string" + at(js, dec.InputOffset()), Err: ErrSyntax}
				}
				kp := joinKey(path, k)
				v, err := parseValue(dec, js, kp, depth+1, list)
				if err != nil {
					return nil, err
				}
				if seen[k] {
					list.Add(ErrInvalid, kp, "appears twice in the same object")
					continue
				}
				seen[k] = true
				n.keys = append(n.keys, k)
				n.vals = append(n.vals, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, syntaxError(js, dec, err)
			}
			return n, nil
		case '[':
			n := &node{kind: 'a'}
			for i := 0; dec.More(); i++ {
				v, err := parseValue(dec, js, fmt.Sprintf("%s[%d]", path, i), depth+1, list)
				if err != nil {
					return nil, err
				}
				n.vals = append(n.vals, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, syntaxError(js, dec, err)
			}
			return n, nil
		}
	case string:
		return &node{kind: 's', str: t}, nil
	case json.Number:
		return &node{kind: 'n', str: string(t)}, nil
	case bool:
		return &node{kind: 'b', b: t}, nil
	case nil:
		return &node{kind: 'z'}, nil
	}
	return nil, &field.Error{Path: path, Problem: fmt.Sprintf("unexpected %v", tok) + at(js, dec.InputOffset()), Err: ErrSyntax}
}

// syntaxError turns a JSON reader's error into a problem with a line and
// column.
func syntaxError(js []byte, dec *json.Decoder, err error) error {
	off := dec.InputOffset()
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		msg = "unexpected end of the file"
	}
	return &field.Error{Problem: msg + at(js, off), Err: ErrSyntax}
}

// at says where offset is in js, as " at line L, column C".
func at(js []byte, off int64) string {
	if off < 0 || off > int64(len(js)) {
		return ""
	}
	before := js[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return fmt.Sprintf(" (line %d, column %d)", line, col)
}

// joinKey is the path of an object's key: "a.b", or `a["b c"]` for a key
// that is not a plain name.
func joinKey(path, k string) string {
	if !plainName(k) {
		return path + "[" + strconv.Quote(k) + "]"
	}
	if path == "" {
		return k
	}
	return path + "." + k
}

func plainName(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// decoder decodes nodes into Go values, collecting every problem.
type decoder struct {
	list field.List
	// yaml says the document was YAML, whose version 1.1 reads the
	// words y, n, yes, no, on and off as booleans: messages then say so.
	yaml bool
}

// yamlBool is the hint for a YAML word read as a boolean.
const yamlBool = " (YAML reads y, n, yes, no, on and off as true or false: quote the word)"

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func (d *decoder) bad(path, format string, args ...any) {
	d.list.Add(ErrInvalid, path, format, args...)
}

// decode sets v (addressable) from n, following encoding/json's rules
// except where Unmarshal's documentation says it is stricter.
func (d *decoder) decode(n *node, v reflect.Value, path string) {
	if n.kind == 'z' {
		// As encoding/json: null empties a pointer, map, slice or
		// interface, and leaves anything else alone.
		switch v.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
			v.SetZero()
		}
		return
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
		return
	}
	pt := reflect.PointerTo(v.Type())
	if pt.Implements(jsonUnmarshaler) || pt.Implements(textUnmarshaler) {
		d.custom(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.object(n, v, path)
	case reflect.Map:
		d.dict(n, v, path)
	case reflect.Slice:
		if n.kind != 'a' {
			d.bad(path, "want a list, got %s", n.what())
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.vals), len(n.vals))
		for i, e := range n.vals {
			d.decode(e, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Array:
		if n.kind != 'a' {
			d.bad(path, "want a list, got %s", n.what())
			return
		}
		if len(n.vals) > v.Len() {
			d.bad(path, "has %d entries, want at most %d", len(n.vals), v.Len())
			return
		}
		for i, e := range n.vals {
			d.decode(e, v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.String:
		if n.kind != 's' {
			hint := ""
			if d.yaml && n.kind == 'b' {
				hint = yamlBool
			}
			d.bad(path, "want a string, got %s%s", n.what(), hint)
			return
		}
		v.SetString(n.str)
	case reflect.Bool:
		if n.kind != 'b' {
			d.bad(path, "want true or false, got %s", n.what())
			return
		}
		v.SetBool(n.b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n.kind != 'n' {
			d.bad(path, "want a whole number, got %s", n.what())
			return
		}
		i, err := strconv.ParseInt(n.str, 10, 64)
		if err != nil || v.OverflowInt(i) {
			d.bad(path, "want a whole number that fits %s, got %s", v.Type(), clip(n.str))
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if n.kind != 'n' {
			d.bad(path, "want a whole number, got %s", n.what())
			return
		}
		u, err := strconv.ParseUint(n.str, 10, 64)
		if err != nil || v.OverflowUint(u) {
			d.bad(path, "want a whole non-negative number that fits %s, got %s", v.Type(), clip(n.str))
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		if n.kind != 'n' {
			d.bad(path, "want a number, got %s", n.what())
			return
		}
		f, err := strconv.ParseFloat(n.str, v.Type().Bits())
		if err != nil || math.IsInf(f, 0) {
			d.bad(path, "the number %s is out of range", clip(n.str))
			return
		}
		v.SetFloat(f)
	case reflect.Interface:
		var b bytes.Buffer
		n.marshal(&b)
		x := reflect.New(v.Type())
		if err := json.Unmarshal(b.Bytes(), x.Interface()); err != nil {
			d.bad(path, "%s", cleanJSON(err))
			return
		}
		v.Set(x.Elem())
	default:
		d.bad(path, "a %s cannot be read from a file", v.Type())
	}
}

// custom hands n to a type that decodes itself (durations, times, named
// words such as a reaction), and reports its error under path.
func (d *decoder) custom(n *node, v reflect.Value, path string) {
	var b bytes.Buffer
	n.marshal(&b)
	err := json.Unmarshal(b.Bytes(), v.Addr().Interface())
	if err == nil {
		return
	}
	if errors.Is(err, duration.ErrSyntax) {
		msg := strings.TrimPrefix(err.Error(), duration.ErrSyntax.Error()+": ")
		d.list.Merge(&field.Error{Path: path, Problem: msg, Err: duration.ErrSyntax})
		return
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) || isTime(v.Type()) {
		d.bad(path, "want %s, got %s", describe(v.Type()), n.what())
		return
	}
	d.bad(path, "%s", cleanJSON(err))
}

// describe names what a type that decodes itself reads, for messages.
func describe(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[duration.Duration]():
		return `a duration such as "1h30m"`
	}
	if isTime(t) {
		return `a time such as "2026-12-24T00:00:00Z" or "2026-12-24T09:00:00+01:00" (RFC 3339)`
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return "a string"
	}
	return "a " + t.String()
}

func isTime(t reflect.Type) bool { return t.PkgPath() == "time" && t.Name() == "Time" }

func cleanJSON(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}

// object decodes an object into a struct: every key must be a field.
func (d *decoder) object(n *node, v reflect.Value, path string) {
	if n.kind != 'o' {
		d.bad(path, "want an object, got %s", n.what())
		return
	}
	fields := fieldsOf(v.Type())
	for i, k := range n.keys {
		kp := joinKey(path, k)
		f, ok := fields.byName[k]
		if !ok {
			d.unknown(kp, k, fields.names)
			continue
		}
		fv, ok := fieldByIndex(v, f)
		if !ok {
			d.bad(kp, "cannot be set")
			continue
		}
		d.decode(n.vals[i], fv, kp)
	}
}

// unknown reports a key that is no field, with the closest field's name.
func (d *decoder) unknown(path, key string, names []string) {
	if s := suggest(key, names); s != "" {
		d.list.Add(ErrUnknownField, path, "unknown field; did you mean %q?", s)
		return
	}
	if len(names) <= 12 {
		d.list.Add(ErrUnknownField, path, "unknown field (known: %s)", strings.Join(names, ", "))
		return
	}
	d.list.Add(ErrUnknownField, path, "unknown field")
}

// fieldByIndex returns the field at index, allocating embedded pointers.
func fieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return reflect.Value{}, false
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, v.CanSet()
}

// dict decodes an object into a map.
func (d *decoder) dict(n *node, v reflect.Value, path string) {
	if n.kind != 'o' {
		d.bad(path, "want an object, got %s", n.what())
		return
	}
	t := v.Type()
	m := reflect.MakeMapWithSize(t, len(n.keys))
	for i, k := range n.keys {
		kp := path + "[" + strconv.Quote(k) + "]"
		if d.yaml && (k == "true" || k == "false") {
			// The YAML conversion writes a boolean key as "true" or
			// "false": the author most likely wrote a word such as "no"
			// (Norway) or "on".
			d.bad(kp, "a YAML boolean as a key%s", yamlBool)
			continue
		}
		key := reflect.New(t.Key()).Elem()
		switch {
		case reflect.PointerTo(t.Key()).Implements(textUnmarshaler):
			if err := key.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(k)); err != nil {
				d.bad(kp, "%v", err)
				continue
			}
		case t.Key().Kind() == reflect.String:
			key.SetString(k)
		case key.CanInt():
			x, err := strconv.ParseInt(k, 10, 64)
			if err != nil || key.OverflowInt(x) {
				d.bad(kp, "the key is not a whole number")
				continue
			}
			key.SetInt(x)
		case key.CanUint():
			x, err := strconv.ParseUint(k, 10, 64)
			if err != nil || key.OverflowUint(x) {
				d.bad(kp, "the key is not a whole non-negative number")
				continue
			}
			key.SetUint(x)
		default:
			d.bad(path, "a map keyed by %s cannot be read from a file", t.Key())
			return
		}
		e := reflect.New(t.Elem()).Elem()
		d.decode(n.vals[i], e, kp)
		m.SetMapIndex(key, e)
	}
	v.Set(m)
}

// structFields is the JSON view of a struct type.
type structFields struct {
	byName map[string][]int
	names  []string // in declaration order
}

// fieldsOf lists the JSON names of t's fields as encoding/json sees them:
// exported fields, renamed by their tag, "-" left out, and the fields of
// untagged embedded structs promoted (the shallowest wins; names that clash
// at one depth are left out, as encoding/json does).
func fieldsOf(t reflect.Type) structFields {
	type cand struct {
		name  string
		index []int
		depth int
		tag   bool
	}
	var cands []cand
	var walk func(t reflect.Type, index []int, depth int)
	walk = func(t reflect.Type, index []int, depth int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			idx := append(append([]int(nil), index...), i)
			if f.Anonymous {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if !f.IsExported() && ft.Kind() != reflect.Struct {
					continue
				}
				if name == "" && ft.Kind() == reflect.Struct {
					if depth < 10 {
						walk(ft, idx, depth+1)
					}
					continue
				}
			} else if !f.IsExported() {
				continue
			}
			tagged := name != ""
			if name == "" {
				name = f.Name
			}
			cands = append(cands, cand{name, idx, depth, tagged})
		}
	}
	walk(t, nil, 0)
	// Group by name, keeping declaration order of first appearance.
	groups := map[string][]cand{}
	var order []string
	for _, c := range cands {
		if _, ok := groups[c.name]; !ok {
			order = append(order, c.name)
		}
		groups[c.name] = append(groups[c.name], c)
	}
	sf := structFields{byName: map[string][]int{}}
	for _, name := range order {
		g := groups[name]
		minDepth := g[0].depth
		for _, c := range g {
			minDepth = min(minDepth, c.depth)
		}
		var top, tagged []cand
		for _, c := range g {
			if c.depth == minDepth {
				top = append(top, c)
				if c.tag {
					tagged = append(tagged, c)
				}
			}
		}
		switch {
		case len(top) == 1:
			sf.byName[name] = top[0].index
		case len(tagged) == 1:
			sf.byName[name] = tagged[0].index
		default:
			continue // ambiguous: encoding/json ignores it too
		}
		sf.names = append(sf.names, name)
	}
	return sf
}
