package timeline

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// userTimeline puts the given user strings in every place a user string can
// go.
func userTimeline(title, name, group, label, detail string) *Timeline {
	return &Timeline{
		Title: title,
		Rows: []Row{
			{Name: name, Group: group, Detail: detail,
				Spans: []Span{
					{Kind: Deploying, Start: at(0), End: at(time.Hour), Label: label},
					{Kind: Baking, Start: at(time.Hour), End: at(3 * time.Hour), Label: label},
				},
				Marks: []Mark{{Kind: Alarm, Time: at(2 * time.Hour), Label: label, Severity: Critical}},
			},
			{Name: "zz-other", Group: group, Outcome: Skipped},
		},
	}
}

// xs replaces s by as many x's as it has runes: the same layout, no
// markup.
func xs(s string) string { return strings.Repeat("x", utf8.RuneCountInString(s)) }

// svgShape parses an SVG document strictly and returns its element
// structure, and the text of the stage names and their data-stage
// attributes.
func svgShape(t *testing.T, doc []byte) (shape []string, stages []string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	inStage := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return shape, stages
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, doc)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			var attrs []string
			for _, a := range e.Attr {
				attrs = append(attrs, a.Name.Local)
				if a.Name.Local == "data-stage" {
					stages = append(stages, a.Value)
				}
				if a.Name.Local == "class" && a.Value == "stage" {
					inStage = true
				}
			}
			shape = append(shape, "<"+e.Name.Local+" "+strings.Join(attrs, " ")+">")
		case xml.EndElement:
			shape = append(shape, "</"+e.Name.Local+">")
			inStage = false
		case xml.CharData:
			if inStage {
				stages = append(stages, string(e))
			}
		}
	}
}

var htmlTag = regexp.MustCompile(`<(/?[a-zA-Z][a-zA-Z0-9-]*)([^>]*)>`)

// htmlAttr matches one attribute as an HTML parser reads it: a name,
// optionally = and a quoted or bare value.
var htmlAttr = regexp.MustCompile(`^\s*([^\s=/>"']+)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?`)

// htmlShape returns the sequence of tags and attribute names of a page.
// Anything in a tag that is not a well-formed attribute shows as "!".
func htmlShape(doc []byte) []string {
	var out []string
	for _, m := range htmlTag.FindAllSubmatch(doc, -1) {
		s := "<" + string(m[1])
		rest := m[2]
		for len(bytes.TrimSpace(rest)) > 0 && string(bytes.TrimSpace(rest)) != "/" {
			a := htmlAttr.FindSubmatchIndex(rest)
			if a == nil {
				s += " !" + string(rest)
				break
			}
			s += " " + string(rest[a[2]:a[3]])
			rest = rest[a[1]:]
		}
		out = append(out, s+">")
	}
	return out
}

// checkEscaping renders a timeline full of the given user strings and the
// same timeline with the strings replaced by x's of the same length: the
// documents must have the same structure (no user string adds an element,
// an attribute or a script), the SVG must be well-formed, the stage name
// must come back as written (cleaned of control characters), and the text
// view must carry no control character.
func checkEscaping(t *testing.T, title, name, group, label, detail string) {
	if name == "" || name == "zz-other" {
		return
	}
	hostile := userTimeline(title, name, group, label, detail)
	plain := userTimeline(xs(title), xs(name), xs(group), xs(label), xs(detail))
	render := func(tl *Timeline, f func(*Timeline, *bytes.Buffer) error) []byte {
		var b bytes.Buffer
		if err := f(tl, &b); err != nil {
			t.Fatalf("render: %v", err)
		}
		return b.Bytes()
	}
	svgOf := func(tl *Timeline, b *bytes.Buffer) error { return tl.WriteSVG(b) }
	htmlOf := func(tl *Timeline, b *bytes.Buffer) error { return tl.WriteHTML(b) }
	textOf := func(tl *Timeline, b *bytes.Buffer) error { return tl.WriteText(b, 80) }

	hs, hStages := svgShape(t, render(hostile, svgOf))
	ps, _ := svgShape(t, render(plain, svgOf))
	if strings.Join(hs, "\n") != strings.Join(ps, "\n") {
		t.Fatalf("user strings changed the SVG's structure:\n%s\nvs\n%s", hs, ps)
	}
	want := clean(name)
	if hStages[0] != want {
		t.Errorf("data-stage = %q, want %q", hStages[0], want)
	}
	if utf8.RuneCountInString(want) <= 20 && hStages[1] != want {
		t.Errorf("stage text = %q, want %q", hStages[1], want)
	}

	hh, ph := htmlShape(render(hostile, htmlOf)), htmlShape(render(plain, htmlOf))
	if strings.Join(hh, "\n") != strings.Join(ph, "\n") {
		t.Fatalf("user strings changed the page's structure:\n%s\nvs\n%s", hh, ph)
	}

	for _, r := range string(render(hostile, textOf)) {
		if r != '\n' && unicode.IsControl(r) {
			t.Fatalf("text view carries control character %U", r)
		}
	}
}

func TestEscaping(t *testing.T) {
	for _, s := range []string{
		`<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`, `' onmouseover='alert(1)`,
		`]]><!--`, `&amp; &lt;`, "\x1b[2J\x1b[H", "\u009b31m", "a\x00b", "\xff\xfe", "</svg></figure><p>",
		`javascript:alert(1)`, `{{.Title}}`, "\u202eevil", strings.Repeat("long-name-", 30),
	} {
		checkEscaping(t, s, s, s, s, s)
	}

	// The hostile fixture's strings appear only escaped.
	var svg, page bytes.Buffer
	tl := hostileTimeline()
	if err := tl.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	if err := tl.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{svg.String(), page.String()} {
		if strings.Contains(doc, "<script") || strings.Contains(doc, "<img") || strings.Contains(doc, "<svg onload") {
			t.Errorf("unescaped markup in output:\n%s", doc)
		}
		if !strings.Contains(doc, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("escaped stage name missing from output:\n%s", doc)
		}
	}
}

// FuzzEscaping runs checkEscaping on arbitrary strings.
func FuzzEscaping(f *testing.F) {
	f.Add("t", "w1/us-east-1/one-box", "wave 1", "bake 1h", "one-box")
	f.Add(`</title><script>`, `<b>`, `"><img>`, "]]>", "a\x00\x1b[31m\xff")
	f.Fuzz(func(t *testing.T, title, name, group, label, detail string) {
		checkEscaping(t, title, name, group, label, detail)
	})
}

// FuzzValidate checks that Validate never panics on arbitrary kinds,
// severities, outcomes and times, that every renderer accepts what it
// accepts, and that rejected timelines render nothing.
func FuzzValidate(f *testing.F) {
	f.Add("deploying", "alarm", "critical", "succeeded", int64(0), int64(60), int64(30), int64(0))
	f.Add("dancing", "ping", "fatal", "won", int64(60), int64(0), int64(-5), int64(10))
	f.Fuzz(func(t *testing.T, kind, mark, sev, outcome string, s, e, m, now int64) {
		sec := func(x int64) time.Time {
			if x == 0 {
				return time.Time{}
			}
			return t0.Add(time.Duration(x%(1<<40)) * time.Second)
		}
		tl := &Timeline{Now: sec(now), Rows: []Row{{
			Name: "a", Outcome: Outcome(outcome),
			Spans: []Span{{Kind: SpanKind(kind), Start: sec(s), End: sec(e)}},
			Marks: []Mark{{Kind: MarkKind(mark), Time: sec(m), Severity: Severity(sev)}},
		}}}
		verr := tl.Validate()
		for _, r := range renderers {
			var b bytes.Buffer
			err := r.render(tl, &b)
			if (err == nil) != (verr == nil) || (err != nil && b.Len() > 0) {
				t.Fatalf("%s: render error %v, wrote %d bytes; Validate said %v", r.ext, err, b.Len(), verr)
			}
		}
	})
}
