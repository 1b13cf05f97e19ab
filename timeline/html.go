package timeline

import (
	"bytes"
	"html/template"
	"io"
	"slices"
)

// The page is rendered by html/template, which escapes every value for the
// context it lands in. Its Content-Security-Policy forbids every network
// fetch and every script, so even a page altered after the fact cannot load
// anything.
var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; margin: 2rem; color: #0f172a; background: #ffffff; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
p.subtitle { color: #475569; margin: 0 0 1rem; }
figure { margin: 0 0 1.5rem; overflow-x: auto; }
figure svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: .875rem; }
th, td { text-align: left; padding: .3rem .75rem; border-bottom: 1px solid #e2e8f0; vertical-align: top; }
th { background: #f1f5f9; }
td.state { font-weight: bold; white-space: nowrap; }
td.succeeded { color: #15803d; } td.failed, td.rolled-back { color: #b91c1c; }
td.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
.detail { color: #475569; font-size: .8rem; }
ul.marks { margin: 0; padding-left: 1rem; }
li.warning { color: #b45309; } li.critical { color: #b91c1c; font-weight: bold; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="subtitle">{{.Subtitle}}</p>
<figure>
{{.SVG}}
</figure>
<table class="stages">
<thead><tr><th>Wave</th><th>Stage</th><th>State</th><th>Start</th><th>End</th><th>Duration</th><th>Events</th></tr></thead>
<tbody>
{{- range .Rows}}
<tr><td>{{.Group}}</td><td class="stage">{{.Name}}{{with .Detail}}<div class="detail">{{.}}</div>{{end}}</td><td class="state {{.State}}">{{.State}}</td><td class="time">{{.Start}}</td><td class="time">{{.End}}</td><td class="time">{{.Duration}}</td><td>{{with .Marks}}<ul class="marks">{{range .}}<li class="{{.Severity}}">{{.Text}}</li>{{end}}</ul>{{end}}</td></tr>
{{- end}}
</tbody>
</table>
</body>
</html>
`))

type pageData struct {
	Title, Subtitle string
	SVG             template.HTML
	Rows            []pageRow
}

type pageRow struct {
	Group, Name, Detail, State, Start, End, Duration string
	Marks                                            []pageMark
}

type pageMark struct{ Severity, Text string }

// WriteHTML writes a standalone HTML page: the title, the SVG of
// [Timeline.WriteSVG] inline, and a table of the stages (wave, state, start,
// end, duration, marks). The page loads nothing from the network and runs no
// script; its Content-Security-Policy forbids both. It writes nothing and
// returns the problems when the timeline is invalid.
func (t *Timeline) WriteHTML(w io.Writer) error {
	if err := t.Validate(); err != nil {
		return err
	}
	t = t.local()
	var svg bytes.Buffer
	t.svg(&svg, true)
	start, end, hasTime := t.Bounds()
	multiDay := hasTime && (start.YearDay() != end.YearDay() || start.Year() != end.Year())
	title := clean(t.Title)
	if title == "" {
		title = "Rollout timeline"
	}
	d := pageData{
		Title:    title,
		Subtitle: t.subtitle(start, end, hasTime),
		// The SVG was built with every user string XML-escaped, which is
		// also safe inside HTML.
		SVG: template.HTML(svg.String()),
	}
	for i := range t.Rows {
		r := &t.Rows[i]
		pr := pageRow{Group: clean(r.Group), Name: clean(r.Name), Detail: clean(r.Detail), State: t.state(r)}
		if n := len(r.Spans); n > 0 {
			first, last := r.Spans[0].Start, t.spanEnd(r.Spans[n-1], end)
			pr.Start = clock(first, multiDay)
			if r.Spans[n-1].Open() && !t.Estimated && r.Outcome == Unfinished {
				pr.End = "running"
			} else {
				pr.End = clock(last, multiDay)
			}
			pr.Duration = human(last.Sub(first))
		}
		marks := slices.Clone(r.Marks)
		slices.SortStableFunc(marks, func(a, b Mark) int { return a.Time.Compare(b.Time) })
		for _, m := range marks {
			sev := string(m.Severity)
			if sev == "" {
				sev = "info"
			}
			text := clock(m.Time, multiDay) + " " + string(m.Kind)
			if m.Severity != Info {
				text += " (" + sev + ")"
			}
			if m.Label != "" {
				text += ": " + clean(m.Label)
			}
			pr.Marks = append(pr.Marks, pageMark{sev, text})
		}
		d.Rows = append(d.Rows, pr)
	}
	var b bytes.Buffer
	if err := page.Execute(&b, d); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}
