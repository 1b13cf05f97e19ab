package timeline

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultTextWidth is the line width [Timeline.WriteText] uses when given
// zero: a common terminal width.
const DefaultTextWidth = 100

// Mark symbols in the text view, drawn over the spans.
var markSymbols = map[MarkKind]byte{Alarm: '^', Verdict: '+', Note: '*'}

// WriteText writes the timeline for a terminal: the title, a legend of the
// symbols in use, a time axis, then one line per stage with a bar of what it
// did over time and its state in words, with the latest warning or critical
// mark:
//
//	wave 1
//	  w1/us-east-1/one-box  |###=======        |  succeeded at 13:05
//	  w1/us-east-1/az1      |        ##!!!     |  blocked 25m: outside the window
//
// Lines are at most width runes wide (zero means [DefaultTextWidth]; widths
// below 40 are raised to 40) and carry no trailing spaces. Plain ASCII
// draws the bars; control characters in names and labels are replaced, so a
// stage name cannot send escape sequences to the terminal. It writes nothing
// and returns the problems when the timeline is invalid.
func (t *Timeline) WriteText(w io.Writer, width int) error {
	if err := t.Validate(); err != nil {
		return err
	}
	t = t.local()
	if width == 0 {
		width = DefaultTextWidth
	}
	width = max(width, 40)
	var b bytes.Buffer
	t.text(&b, width)
	_, err := w.Write(b.Bytes())
	return err
}

func (t *Timeline) text(b *bytes.Buffer, width int) {
	start, end, hasTime := t.Bounds()
	multiDay := start.YearDay() != end.YearDay() || start.Year() != end.Year()
	line := func(s string) {
		// Every piece was cleaned already; cleaning the whole line again
		// also covers what comes from the times (a zone's name).
		b.WriteString(strings.TrimRight(truncate(clean(s), width), " "))
		b.WriteByte('\n')
	}
	title := clean(t.Title)
	if title == "" {
		title = "Rollout timeline"
	}
	line(title)
	line(t.subtitle(start, end, hasTime))

	grouped := false
	longest := 0
	for _, r := range t.Rows {
		grouped = grouped || r.Group != ""
		longest = max(longest, utf8.RuneCountInString(clean(r.Name)))
	}
	lead := 0
	if grouped {
		lead = 2
	}
	nameW := min(max(longest, 5), 36)
	// lead + name + " |" + bar + "|  " + state; the state keeps two
	// fifths of the width, where the reason a stage stopped is told.
	barW := max(width-lead-nameW-2-3-width*2/5, 10)

	legend := t.textLegend()
	for len(legend) > 0 {
		// Wrap the legend between entries.
		cur := "legend: " + legend[0]
		legend = legend[1:]
		for len(legend) > 0 && utf8.RuneCountInString(cur)+2+utf8.RuneCountInString(legend[0]) <= width {
			cur += "  " + legend[0]
			legend = legend[1:]
		}
		line(cur)
	}
	if hasTime {
		axis := []rune(strings.Repeat(" ", barW+2))
		next := 0
		for _, tk := range ticks(start, end, barW/7) {
			col := 1 + t.cell(tk.t, start, end, barW)
			if col < next || col+len(tk.label) > len(axis) {
				continue
			}
			copy(axis[col:], []rune(tk.label))
			next = col + len(tk.label) + 1
		}
		line(strings.Repeat(" ", lead+nameW+1) + string(axis))
	}

	prevGroup := ""
	for i := range t.Rows {
		r := &t.Rows[i]
		if r.Group != "" && (i == 0 || r.Group != prevGroup) {
			line(clean(r.Group))
		}
		prevGroup = r.Group
		bar := []byte(strings.Repeat(" ", barW))
		if hasTime {
			painted := -1
			for _, s := range r.Spans {
				se := t.spanEnd(s, end)
				if se.Before(start) || s.Start.After(end) {
					continue
				}
				c0, c1 := t.cell(s.Start, start, end, barW), t.cell(se, start, end, barW)
				// A span fills the cells it covers, at least one; a span
				// ending exactly where a cell starts does not take it.
				if se.After(s.Start) && c1 > c0 && t.cellStart(c1, start, end, barW).Equal(se) {
					c1--
				}
				// When the previous span's last cell is this one's first,
				// leave it to the previous span if this one has more: a
				// ten-minute deploy before a twelve-hour bake still shows.
				if c0 == painted && c1 > c0 {
					c0++
				}
				for c := c0; c <= c1; c++ {
					bar[c] = styles[s.Kind].symbol
				}
				painted = c1
			}
			for _, m := range r.Marks {
				if !m.Time.Before(start) && !m.Time.After(end) {
					bar[t.cell(m.Time, start, end, barW)] = markSymbols[m.Kind]
				}
			}
		}
		line(strings.Repeat(" ", lead) + pad(clean(r.Name), nameW) + " |" + string(bar) + "|  " + t.textState(r, end, multiDay))
	}
}

// cell returns the bar cell holding instant x, clamped to the bar.
func (t *Timeline) cell(x, start, end time.Time, n int) int {
	f := float64(x.Sub(start)) / float64(end.Sub(start))
	return min(max(int(f*float64(n)), 0), n-1)
}

func (t *Timeline) cellStart(c int, start, end time.Time, n int) time.Time {
	return start.Add(time.Duration(float64(end.Sub(start)) * float64(c) / float64(n)))
}

func (t *Timeline) textLegend() []string {
	spans := map[SpanKind]bool{}
	marks := map[MarkKind]bool{}
	for _, r := range t.Rows {
		for _, s := range r.Spans {
			spans[s.Kind] = true
		}
		for _, m := range r.Marks {
			marks[m.Kind] = true
		}
	}
	var parts []string
	for _, k := range SpanKinds {
		if spans[k] {
			parts = append(parts, string(styles[k].symbol)+" "+string(k))
		}
	}
	for _, k := range MarkKinds {
		if marks[k] {
			parts = append(parts, string(markSymbols[k])+" "+string(k))
		}
	}
	return parts
}

// textState says in words what the row is doing or how it ended, with the
// latest warning or critical mark.
func (t *Timeline) textState(r *Row, axisEnd time.Time, multiDay bool) string {
	at := func(x time.Time) string {
		if multiDay {
			return x.Format("Jan 2 15:04")
		}
		return x.Format("15:04")
	}
	st := t.state(r)
	n := len(r.Spans)
	switch {
	case r.Outcome != Unfinished && n > 0:
		st += " at " + at(t.spanEnd(r.Spans[n-1], axisEnd))
	case n > 0 && r.Spans[n-1].Open():
		s := r.Spans[n-1]
		st += " " + human(t.spanEnd(s, axisEnd).Sub(s.Start))
		if s.Label != "" {
			st += ": " + clean(s.Label)
		}
	case n > 0 && t.Estimated:
		a, b := r.Spans[0].Start, r.Spans[n-1].End
		st += " " + at(a) + "-"
		if multiDay && a.YearDay() == b.YearDay() {
			st += b.Format("15:04")
		} else {
			st += at(b)
		}
	case n > 0:
		st += " since " + at(r.Spans[n-1].End)
	}
	marks := slices.Clone(r.Marks)
	slices.SortStableFunc(marks, func(a, b Mark) int { return a.Time.Compare(b.Time) })
	for i := len(marks) - 1; i >= 0; i-- {
		if m := marks[i]; m.Severity != Info {
			st += " · " + string(m.Kind) + " " + at(m.Time)
			if m.Label != "" {
				st += ": " + clean(m.Label)
			}
			break
		}
	}
	return st
}
