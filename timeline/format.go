package timeline

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// tick is one labelled instant of the time axis.
type tick struct {
	t     time.Time
	label string
}

// tickSteps are the candidate distances between ticks, each a round number
// in its unit so that labels read naturally.
var tickSteps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour,
}

const day = 24 * time.Hour

// ticks returns the axis ticks for [start, end], at most max of them (and at
// least one step's worth), placed on round instants in start's location:
// whole minutes, hours or days counted from local midnight. The labels show
// the time of day, and the date instead on midnights when the axis spans
// more than one day.
func ticks(start, end time.Time, max int) []tick {
	if max < 1 {
		max = 1
	}
	span := end.Sub(start)
	step := tickSteps[len(tickSteps)-1]
	// A step s gives at most span/s+1 ticks.
	for _, s := range tickSteps {
		if span/s+1 <= time.Duration(max) {
			step = s
			break
		}
	}
	for span/step+1 > time.Duration(max) && step <= math.MaxInt64/2 {
		step *= 2
	}
	loc := start.Location()
	y, m, d := start.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, loc)
	multiDay := start.YearDay() != end.YearDay() || start.Year() != end.Year()

	var out []tick
	if step >= day {
		days := int(step / day)
		for i := 0; ; i += days {
			t := time.Date(y, m, d+i, 0, 0, 0, 0, loc)
			if t.After(end) {
				break
			}
			if !t.Before(start) {
				out = append(out, tick{t, t.Format("Jan 2")})
			}
		}
		return out
	}
	// Count from local midnight so that, in a zone with a half-hour offset,
	// hourly ticks still fall on the local hour.
	first := midnight.Add((start.Sub(midnight) + step - 1) / step * step)
	for t := first; !t.After(end); t = t.Add(step) {
		var label string
		switch {
		case multiDay && t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0:
			label = t.Format("Jan 2")
		case step < time.Minute:
			label = t.Format("15:04:05")
		default:
			label = t.Format("15:04")
		}
		out = append(out, tick{t, label})
	}
	return out
}

// human formats a duration compactly for people: "45s", "5m", "1h30m",
// "2d4h". It keeps the two largest units and rounds to the second.
func human(d time.Duration) string {
	if d < 0 {
		return "-" + human(-d)
	}
	d = d.Round(time.Second)
	if d == 0 {
		return "0s"
	}
	units := []struct {
		n time.Duration
		s string
	}{{day, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}}
	var b strings.Builder
	shown := 0
	for _, u := range units {
		if shown == 2 {
			break
		}
		if k := d / u.n; k > 0 {
			fmt.Fprintf(&b, "%d%s", k, u.s)
			d -= k * u.n
			shown++
		} else if shown > 0 {
			// Stop at the first empty unit after a shown one: "2d" not "2d0h".
			break
		}
	}
	return b.String()
}

// clean replaces the characters a reader must not receive raw: control
// characters (which would let a stage name move a terminal's cursor or
// recolour it, or make XML invalid) and invalid UTF-8 become U+FFFD, and
// newlines and tabs become spaces. Escaping for the output format is done
// afterwards by the renderer.
func clean(s string) string {
	ok := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || isNonCharacter(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '\n' || r == '\t' || r == '\r':
			b.WriteByte(' ')
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				b.WriteRune(utf8.RuneError)
			} else {
				b.WriteRune(r)
			}
		case unicode.IsControl(r) || isNonCharacter(r):
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isNonCharacter reports the code points XML 1.0 forbids besides controls.
func isNonCharacter(r rune) bool {
	return r == 0xFFFE || r == 0xFFFF || (r >= 0xD800 && r <= 0xDFFF)
}

// truncate shortens s to at most n runes, ending with an ellipsis when cut.
func truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// pad right-pads s with spaces to n runes (truncating when longer).
func pad(s string, n int) string {
	s = truncate(s, n)
	return s + strings.Repeat(" ", n-utf8.RuneCountInString(s))
}

// clock formats an instant for labels: the time of day, with the date when
// the timeline spans more than one day.
func clock(t time.Time, withDate bool) string {
	if withDate {
		return t.Format("Jan 2 15:04")
	}
	return t.Format("15:04:05")
}
