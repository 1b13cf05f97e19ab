package timeline

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// style is how a span kind is drawn: its fill, the colour of text drawn on
// it, and its symbol in the text view.
type style struct {
	fill, ink string
	symbol    byte
}

// The palette keeps the kinds apart for the common forms of colour
// blindness: blue and orange carry the main contrast (deploying against
// blocked), red is kept for rolling back alone, and baking is a light green
// distinct in lightness from deploying's blue.
var styles = map[SpanKind]style{
	Waiting:         {"#cbd5e1", "#0f172a", '.'},
	Deploying:       {"#2563eb", "#ffffff", '#'},
	Verifying:       {"#0d9488", "#ffffff", '~'},
	Baking:          {"#86efac", "#14532d", '='},
	Blocked:         {"#f59e0b", "#0f172a", '!'},
	WaitingApproval: {"#9333ea", "#ffffff", '?'},
	RollingBack:     {"#dc2626", "#ffffff", '<'},
}

var severityColour = map[Severity]string{Info: "#334155", Warning: "#d97706", Critical: "#dc2626"}

var outcomeColour = map[Outcome]string{
	Succeeded: "#15803d", Failed: "#b91c1c", RolledBack: "#b91c1c", Cancelled: "#64748b", Skipped: "#64748b",
}

// SVG layout, in pixels. The picture has a fixed width and scales through
// its viewBox.
const (
	svgWidth    = 1200
	svgPad      = 16
	rowHeight   = 26
	groupHeight = 24
	charWidth   = 7   // average width of a 12px sans-serif character
	smallChar   = 6.2 // the same at 11px
	indent      = 14  // rows under a group heading
	tickSpacing = 90  // minimum pixels between axis ticks
	fontFamily  = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
)

// WriteSVG writes the timeline as a self-contained SVG document: inline
// presentation attributes only, no external fonts, images, styles or
// scripts. Every span is a <rect class="span KIND"> with a tooltip, every
// stage name a <text class="stage">. It writes nothing and returns the
// problems when the timeline is invalid.
func (t *Timeline) WriteSVG(w io.Writer) error {
	if err := t.Validate(); err != nil {
		return err
	}
	t = t.local()
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	t.svg(&b, false)
	_, err := w.Write(b.Bytes())
	return err
}

// svgWriter accumulates SVG with escaping helpers.
type svgWriter struct{ *bytes.Buffer }

// text writes s as XML character data (or an attribute value), cleaned of
// control characters first.
func (w svgWriter) text(s string) { xml.EscapeText(w, []byte(clean(s))) }

func (w svgWriter) f(format string, args ...any) { fmt.Fprintf(w, format, args...) }

func num(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// round1 rounds a coordinate to a tenth of a pixel so that output is short
// and stable.
func round1(x float64) float64 {
	if x < 0 {
		return -round1(-x)
	}
	return float64(int64(x*10+0.5)) / 10
}

// svg draws the timeline. Embedded in the HTML page, which has its own
// heading, it leaves out the title and subtitle.
func (t *Timeline) svg(buf *bytes.Buffer, embedded bool) {
	w := svgWriter{buf}
	start, end, hasTime := t.Bounds()
	multiDay := hasTime && (start.YearDay() != end.YearDay() || start.Year() != end.Year())

	// The label column fits the longest name, within limits; longer names
	// are cut with an ellipsis and shown whole in the tooltip.
	longest := 0
	for _, r := range t.Rows {
		n := utf8.RuneCountInString(clean(r.Name))
		if r.Group != "" {
			n += indent / charWidth
		}
		longest = max(longest, n)
	}
	labelW := min(max(longest*charWidth+24, 140), 360)
	plotX := float64(svgPad + labelW)
	plotW := float64(svgWidth - svgPad - 8 - svgPad - labelW)
	x := func(tm time.Time) float64 {
		if !hasTime {
			return plotX
		}
		f := float64(tm.Sub(start)) / float64(end.Sub(start))
		return round1(plotX + min(max(f, 0), 1)*plotW)
	}

	// Vertical layout: title, subtitle, axis labels, then groups and rows.
	axisY := 76
	if embedded {
		axisY = 26
	}
	y := axisY + 6
	type placed struct {
		row   *Row
		y     int
		group bool // a group heading placed before the row
		gy    int
	}
	var rows []placed
	prevGroup := ""
	for i := range t.Rows {
		r := &t.Rows[i]
		p := placed{row: r}
		if r.Group != "" && (i == 0 || r.Group != prevGroup) {
			p.group, p.gy = true, y
			y += groupHeight
		}
		prevGroup = r.Group
		p.y = y
		y += rowHeight
		rows = append(rows, p)
	}
	rowsEnd := y
	legendY := rowsEnd + 28
	legend := t.legendItems()
	legendRows := 1
	{
		lx := svgPad + 60
		for _, it := range legend {
			wd := 22 + int(float64(utf8.RuneCountInString(it.text))*charWidth) + 18
			if lx+wd > svgWidth-svgPad {
				legendRows++
				lx = svgPad + 60
			}
			lx += wd
		}
	}
	height := legendY + legendRows*20 + svgPad
	if len(legend) == 0 {
		height = rowsEnd + 2*svgPad
	}

	title := t.Title
	if title == "" {
		title = "Rollout timeline"
	}
	w.f(`<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s" font-size="12" role="img" aria-label="`,
		svgWidth, height, svgWidth, height, fontFamily)
	w.text(title)
	w.f("\">\n<title>")
	w.text(title)
	w.f("</title>\n")
	w.f(`<rect class="background" x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", svgWidth, height)

	if !embedded {
		w.f(`<text class="title" x="%d" y="30" font-size="18" font-weight="bold" fill="#0f172a">`, svgPad)
		w.text(title)
		w.f("</text>\n")
		w.f(`<text class="subtitle" x="%d" y="50" fill="#475569">`, svgPad)
		w.text(t.subtitle(start, end, hasTime))
		w.f("</text>\n")
	}

	// Axis: tick labels above the rows and grid lines through them.
	if hasTime {
		w.f(`<g class="axis" fill="#475569" font-size="11">` + "\n")
		w.f(`<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="#94a3b8"/>`+"\n", num(plotX), axisY, num(plotX+plotW), axisY)
		for _, tk := range ticks(start, end, int(plotW/tickSpacing)) {
			tx := x(tk.t)
			w.f(`<line class="grid" x1="%s" y1="%d" x2="%s" y2="%d" stroke="#e2e8f0"/>`+"\n", num(tx), axisY, num(tx), rowsEnd)
			w.f(`<text x="%s" y="%d" text-anchor="middle">%s</text>`+"\n", num(tx), axisY-6, tk.label)
		}
		w.f("</g>\n")
	}

	for _, p := range rows {
		r := p.row
		if p.group {
			w.f(`<g class="group"><rect x="%d" y="%d" width="%d" height="%d" fill="#f1f5f9"/>`,
				svgPad, p.gy, svgWidth-2*svgPad, groupHeight)
			w.f(`<text x="%d" y="%d" font-weight="bold" fill="#0f172a">`, svgPad+4, p.gy+16)
			w.text(truncate(clean(r.Group), (svgWidth-2*svgPad)/charWidth))
			w.f("</text></g>\n")
		}
		w.f(`<g class="row" data-stage="`)
		w.text(r.Name)
		w.f("\">\n<title>")
		w.text(r.Name)
		if r.Detail != "" {
			w.text(": " + r.Detail)
		}
		if r.Outcome != Unfinished {
			w.text(" (" + string(r.Outcome) + ")")
		}
		w.f("</title>\n")
		w.f(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#f1f5f9"/>`+"\n", svgPad, p.y+rowHeight, svgWidth-svgPad, p.y+rowHeight)
		lx := svgPad + 4
		if r.Group != "" {
			lx += indent
		}
		nameColour := "#0f172a"
		if c, ok := outcomeColour[r.Outcome]; ok {
			nameColour = c
		}
		w.f(`<text class="stage" x="%d" y="%d" fill="%s">`, lx, p.y+17, nameColour)
		w.text(truncate(clean(r.Name), (svgPad+labelW-lx-8)/charWidth))
		w.f("</text>\n")
		if hasTime {
			for _, s := range r.Spans {
				t.svgSpan(w, s, p.y, x, start, end, multiDay)
			}
			marks := slices.Clone(r.Marks)
			slices.SortStableFunc(marks, func(a, b Mark) int { return a.Time.Compare(b.Time) })
			for _, m := range marks {
				if m.Time.Before(start) || m.Time.After(end) {
					continue
				}
				svgMark(w, m, x(m.Time), float64(p.y)+rowHeight/2, multiDay)
			}
		}
		w.f("</g>\n")
	}

	if hasTime && !t.Now.IsZero() && !t.Now.Before(start) && !t.Now.After(end) {
		nx := x(t.Now)
		w.f(`<g class="now"><line x1="%s" y1="%d" x2="%s" y2="%d" stroke="#0f172a" stroke-dasharray="4 3"/>`, num(nx), axisY, num(nx), rowsEnd)
		w.f(`<text x="%s" y="%d" font-size="11" font-weight="bold" fill="#0f172a" text-anchor="middle">now</text></g>`+"\n", num(nx), rowsEnd+14)
	}

	if len(legend) > 0 {
		w.f(`<g class="legend" fill="#0f172a">` + "\n")
		w.f(`<text x="%d" y="%d" font-weight="bold">Legend</text>`+"\n", svgPad, legendY)
		lx, ly := svgPad+60, legendY
		for _, it := range legend {
			wd := 22 + int(float64(utf8.RuneCountInString(it.text))*charWidth) + 18
			if lx+wd > svgWidth-svgPad {
				lx, ly = svgPad+60, ly+20
			}
			it.draw(w, float64(lx)+6, float64(ly)-4)
			w.f(`<text x="%d" y="%d">`, lx+18, ly)
			w.text(it.text)
			w.f("</text>\n")
			lx += wd
		}
		w.f("</g>\n")
	}
	w.f("</svg>\n")
}

func (t *Timeline) svgSpan(w svgWriter, s Span, rowY int, x func(time.Time) float64, start, end time.Time, multiDay bool) {
	se := t.spanEnd(s, end)
	if se.Before(start) || s.Start.After(end) {
		return
	}
	x0, x1 := x(s.Start), x(se)
	wd := max(round1(x1-x0), 1) // a one-second deploy still shows
	st := styles[s.Kind]
	w.f(`<rect class="span %s" x="%s" y="%d" width="%s" height="14" rx="2" fill="%s"`, s.Kind, num(x0), rowY+6, num(wd), st.fill)
	if t.Estimated {
		w.f(` fill-opacity="0.55" stroke="%s" stroke-dasharray="4 2"`, st.fill)
	}
	w.f("><title>")
	tip := string(s.Kind)
	if t.Estimated {
		tip = "estimated " + tip
	}
	tip += " " + clock(s.Start, multiDay) + "–"
	if s.Open() {
		tip += "now"
	} else {
		tip += clock(s.End, multiDay)
	}
	tip += " (" + human(se.Sub(s.Start)) + ")"
	if s.Label != "" {
		tip += ": " + s.Label
	}
	w.text(tip)
	w.f("</title></rect>\n")
	if s.Label != "" {
		label := clean(s.Label)
		if float64(utf8.RuneCountInString(label))*smallChar+8 <= wd {
			w.f(`<text class="span-label" x="%s" y="%d" font-size="11" fill="%s">`, num(round1(x0+4)), rowY+17, st.ink)
			w.text(label)
			w.f("</text>\n")
		}
	}
}

// svgMark draws a mark centred on (cx, cy): a triangle for an alarm, a
// diamond for a verdict, a circle for a note, coloured by severity.
func svgMark(w svgWriter, m Mark, cx, cy float64, multiDay bool) {
	c := severityColour[m.Severity]
	sev := string(m.Severity)
	if sev == "" {
		sev = "info"
	}
	w.f(`<g class="mark %s %s">`, m.Kind, sev)
	drawShape(w, m.Kind, cx, cy, c)
	w.f("<title>")
	tip := string(m.Kind) + " at " + clock(m.Time, multiDay)
	if m.Severity != Info {
		tip += " (" + string(m.Severity) + ")"
	}
	if m.Label != "" {
		tip += ": " + m.Label
	}
	w.text(tip)
	w.f("</title></g>\n")
}

func drawShape(w svgWriter, k MarkKind, cx, cy float64, colour string) {
	const r = 6
	switch k {
	case Alarm:
		w.f(`<path d="M%s %sL%s %sL%s %sZ" fill="%s" stroke="#ffffff"/>`,
			num(cx), num(cy-r), num(cx+r), num(cy+r-1), num(cx-r), num(cy+r-1), colour)
	case Verdict:
		w.f(`<path d="M%s %sL%s %sL%s %sL%s %sZ" fill="%s" stroke="#ffffff"/>`,
			num(cx), num(cy-r), num(cx+r), num(cy), num(cx), num(cy+r), num(cx-r), num(cy), colour)
	default:
		w.f(`<circle cx="%s" cy="%s" r="%d" fill="%s" stroke="#ffffff"/>`, num(cx), num(cy), r-1, colour)
	}
}

// legendItem is one entry of the legend: a symbol and its meaning.
type legendItem struct {
	text string
	draw func(w svgWriter, cx, cy float64)
}

// legendItems lists what the timeline uses, in a fixed order: span kinds,
// mark kinds, then severities other than info.
func (t *Timeline) legendItems() []legendItem {
	spans := map[SpanKind]bool{}
	marks := map[MarkKind]bool{}
	sevs := map[Severity]bool{}
	for _, r := range t.Rows {
		for _, s := range r.Spans {
			spans[s.Kind] = true
		}
		for _, m := range r.Marks {
			marks[m.Kind] = true
			sevs[m.Severity] = true
		}
	}
	var out []legendItem
	for _, k := range SpanKinds {
		if !spans[k] {
			continue
		}
		st := styles[k]
		text := string(k)
		if t.Estimated {
			text += " (estimated)"
		}
		out = append(out, legendItem{text, func(w svgWriter, cx, cy float64) {
			w.f(`<rect class="swatch %s" x="%s" y="%s" width="12" height="12" rx="2" fill="%s"`, k, num(cx-6), num(cy-6), st.fill)
			if t.Estimated {
				w.f(` fill-opacity="0.55" stroke="%s" stroke-dasharray="4 2"`, st.fill)
			}
			w.f("/>")
		}})
	}
	for _, k := range MarkKinds {
		if marks[k] {
			out = append(out, legendItem{string(k), func(w svgWriter, cx, cy float64) {
				drawShape(w, k, cx, cy, severityColour[Info])
			}})
		}
	}
	for _, s := range []Severity{Warning, Critical} {
		if sevs[s] {
			out = append(out, legendItem{string(s), func(w svgWriter, cx, cy float64) {
				w.f(`<circle cx="%s" cy="%s" r="5" fill="%s"/>`, num(cx), num(cy), severityColour[s])
			}})
		}
	}
	return out
}

// subtitle says what the axis covers, and that times are estimates for a
// plan.
func (t *Timeline) subtitle(start, end time.Time, hasTime bool) string {
	var parts []string
	stages := fmt.Sprintf("%d stages", len(t.Rows))
	if len(t.Rows) == 1 {
		stages = "1 stage"
	}
	parts = append(parts, stages)
	if hasTime {
		parts = append(parts, fmt.Sprintf("%s to %s (%s)",
			start.Format("2006-01-02 15:04:05 MST"), end.Format("2006-01-02 15:04:05 MST"), human(end.Sub(start))))
	} else {
		parts = append(parts, "nothing has happened yet")
	}
	if t.Estimated {
		parts = append(parts, "estimated times")
	}
	if !t.Now.IsZero() {
		parts = append(parts, "as of "+t.Now.In(start.Location()).Format("15:04:05"))
	}
	return strings.Join(parts, " · ")
}
