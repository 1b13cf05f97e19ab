// Package blocker decides whether a stage of a rollout may start now, and if
// not, why not and when it may.
//
// A [Blocker] answers, for a [Subject] (the stage about to start: its change,
// service, regions and targets) and an instant, with a [Decision]: clear, or
// blocked with a reason in plain words and, when it is known, the time the
// block may clear. The package provides the blockers careful operators use:
//
//   - [Calendar]: time windows in each region's local time (allowed days and
//     hours, "not after 15:00 on Fridays" deny rules, holidays per region or
//     global, freezes as instants or as each region's local dates),
//     compiled from a [Policy] that lives in a configuration file as JSON.
//     [Calendar.NextOpen] computes the next instant the window opens, so a
//     driver can sleep until then.
//   - [Alarms]: blocked while watched alarms are in ALARM (and optionally
//     INSUFFICIENT_DATA).
//   - [Switchboard] and [SwitchBlocker]: organisation-wide events and manual
//     stop-the-line switches, set and cleared by a named actor with a reason,
//     scoped to everything, a region or a service.
//   - [Func]: any function.
//
// A [Set] evaluates several blockers together and reports every reason, not
// just the first, with the time the subject may clear. Each decision also
// lists its [Hold] values: which rule holds the subject (a freeze, a
// holiday, a window, an alarm, a switch), in which region, and until when,
// so that a driver that waits can name what it waits for, and decide by
// the kind of rule whether to keep waiting or give up. It fails closed: a
// blocker that cannot be evaluated blocks, unless its [Entry] says FailOpen.
// [Overrides] grants audited, expiring bypasses of named blockers for one
// change (shipping the fix through an alarm blocker, for example), and only
// when a caller-supplied [Authoriser] allows it; with no authoriser every
// override is refused. Every switch and override change, and every refused
// override, is written to an [AuditLog].
//
// Everything takes the time explicitly (a now parameter) and returns plain
// data, so policies are unit-tested by calling them with chosen instants, and
// a rollout driver sleeps until [Verdict.Until] with its own timers (or calls
// [Set.Wait], which does that under testing/synctest too).
//
// # Time zones
//
// Windows are judged with the IANA time zone database through
// [time.LoadLocation]. A program that must work on machines without a system
// zoneinfo (minimal containers, Windows) should import _ "time/tzdata",
// which embeds the database in the binary (about 450 KB); otherwise the
// system's zoneinfo is used, and an unknown zone is reported by
// [Policy.Validate] and [NewCalendar] rather than guessed.
//
// # Daylight saving time
//
// A window is a set of wall-clock readings: an instant is inside it when the
// instant's local reading in the region's zone (weekday, date, hour, minute)
// is. That one rule decides the two awkward days of the year:
//
//   - Spring forward: readings in the gap never occur. A window whose start
//     falls in the gap opens at the first instant after the gap (a 02:30
//     start in America/New_York on the spring-forward day opens at 03:00
//     EDT); a window that ends in the gap closes when the gap begins. Windows
//     that span the gap are an hour shorter in real time.
//   - Fall back: the repeated readings occur twice, and both occurrences are
//     inside a window that covers them (a deny rule for 01:00-02:00 in
//     America/New_York blocks two real hours that night). Windows that span
//     the repeated hour are an hour longer in real time.
//
// Holidays and freezes of local dates are whole local days (23 or 25 hours
// long on those days; a day whose midnight falls in a gap starts when the
// gap ends); freezes of instants ignore zones altogether.
package blocker
