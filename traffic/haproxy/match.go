package haproxy

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/shepherd-go/shepherd/field"
	"github.com/shepherd-go/shepherd/traffic"
)

// SetMatch sends the scope's requests whose [Match.Header] has one of the
// values of m to a server of the canary version, whatever the weights; an
// empty m removes every match. Each value goes to one server (the values in
// turn over the canary's servers), so a tester's requests stay on one box.
//
// The map's entries are replaced whole and atomically: HAProxy's "prepare
// map" opens a new version, the entries are added to it, and "commit map"
// makes it current only when every entry was accepted. A refused entry
// leaves the previous matches in force.
//
// Values are restricted to letters, digits and -_.:=/+@, which the runtime
// API's command line carries without escaping.
func (rt *Router) SetMatch(ctx context.Context, scope string, canary string, m []traffic.Match) error {
	sc, err := rt.scope(scope)
	if err != nil {
		return err
	}
	var l field.List
	if sc.Match == nil {
		l.Add(ErrInvalid, "scope", "scope %q has no Match map: set Config.Scopes[%q].Match and its use-server rule", scope, scope)
		return l.Err()
	}
	servers, ok := sc.Versions[canary]
	if !ok && len(m) > 0 {
		l.Add(ErrInvalid, "canary", "scope %q has no version %q (configured: %s)", scope, canary, strings.Join(sortedKeys(sc.Versions), ", "))
	}
	seen := make(map[string]bool)
	for i, x := range m {
		if !strings.EqualFold(x.Header, sc.Match.Header) {
			l.Add(ErrInvalid, fmt.Sprintf("m[%d].Header", i), "scope %q matches on header %q only, got %q", scope, sc.Match.Header, x.Header)
		}
		if err := checkToken(x.Value); err != "" {
			l.Add(ErrInvalid, fmt.Sprintf("m[%d].Value", i), "%s", err)
		} else if seen[x.Value] {
			l.Add(ErrInvalid, fmt.Sprintf("m[%d].Value", i), "%q is listed twice", x.Value)
		}
		seen[x.Value] = true
	}
	if err := l.Err(); err != nil {
		return err
	}
	unlock, err := rt.lock(ctx, scope)
	if err != nil {
		return err
	}
	defer unlock()

	backend, file := sc.backend(scope), sc.Match.Map
	prepare := "prepare map " + file
	answers, err := rt.exchange(ctx, prepare)
	if err != nil {
		return err
	}
	ver, ok := strings.CutPrefix(answers[0], "New version created: ")
	if _, err := strconv.ParseUint(ver, 10, 32); !ok || err != nil {
		return &RefusedError{Backend: backend, Command: prepare, Message: answers[0]}
	}
	if len(m) > 0 {
		cmds := make([]string, len(m))
		for i, x := range m {
			cmds[i] = fmt.Sprintf("add map @%s %s %s %s", ver, file, x.Value, servers[i%len(servers)])
		}
		answers, err := rt.exchange(ctx, cmds...)
		if err != nil {
			return err
		}
		for i, a := range answers {
			if a != "" {
				return &RefusedError{Backend: backend, Server: servers[i%len(servers)], Command: cmds[i], Message: a}
			}
		}
	}
	commit := fmt.Sprintf("commit map @%s %s", ver, file)
	answers, err = rt.exchange(ctx, commit)
	if err != nil {
		return err
	}
	if answers[0] != "" {
		return &RefusedError{Backend: backend, Command: commit, Message: answers[0]}
	}
	return nil
}
