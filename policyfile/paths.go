package policyfile

import (
	"reflect"
	"strconv"
	"strings"

	"github.com/shepherd-go/shepherd/field"
)

// jsonPaths rewrites the paths of the field errors in err, which name Go
// fields from a value of type t ("policy.Batch.MaxFraction" for a
// wave.Policy validated alone), into the file's JSON names under prefix
// ("plan.batch.maxFraction"). root is the name the validator gave the value
// itself ("policy"), dropped; a segment that names no field is kept as it
// is, with the rest of the path.
func jsonPaths(err error, t reflect.Type, root, prefix string) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range field.Flatten(err) {
		fe, ok := e.(*field.Error)
		if !ok {
			out = append(out, e)
			continue
		}
		c := *fe
		p := c.Path
		if root != "" {
			switch {
			case p == root:
				p = ""
			case strings.HasPrefix(p, root+"."):
				p = p[len(root)+1:]
			case strings.HasPrefix(p, root+"["):
				p = p[len(root):]
			}
		}
		c.Path = join(prefix, translate(p, t))
		out = append(out, &c)
	}
	return joinErrs(out)
}

// join appends path p to prefix.
func join(prefix, p string) string {
	switch {
	case prefix == "":
		return p
	case p == "":
		return prefix
	case strings.HasPrefix(p, "["):
		return prefix + p
	}
	return prefix + "." + p
}

// translate maps a Go path below a value of type t to JSON names.
func translate(p string, t reflect.Type) string {
	var b strings.Builder
	for p != "" {
		// An index or a key: [3] or ["name"].
		if p[0] == '[' {
			end := closing(p)
			if end < 0 {
				b.WriteString(p)
				break
			}
			b.WriteString(p[:end+1])
			p = p[end+1:]
			for t != nil && t.Kind() == reflect.Pointer {
				t = t.Elem()
			}
			if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map) {
				t = t.Elem()
			} else {
				t = nil
			}
			continue
		}
		if p[0] == '.' {
			p = p[1:]
			continue
		}
		end := strings.IndexAny(p, ".[")
		if end < 0 {
			end = len(p)
		}
		seg := p[:end]
		p = p[end:]
		name, next := seg, reflect.Type(nil)
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t != nil && t.Kind() == reflect.Struct {
			if f, ok := t.FieldByName(seg); ok {
				if jn := jsonName(f); jn != "" {
					name, next = jn, f.Type
				}
			}
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(name)
		t = next
	}
	return b.String()
}

// jsonName is the name a field goes by in a file, "" when it has none.
func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	if tag == "-" {
		return ""
	}
	if name, _, _ := strings.Cut(tag, ","); name != "" {
		return name
	}
	return f.Name
}

// closing returns the index of the "]" that closes p[0] == '[', skipping
// a quoted key.
func closing(p string) int {
	if len(p) > 1 && p[1] == '"' {
		q, err := strconv.QuotedPrefix(p[1:])
		if err != nil {
			return -1
		}
		if i := 1 + len(q); i < len(p) && p[i] == ']' {
			return i
		}
		return -1
	}
	return strings.IndexByte(p, ']')
}
