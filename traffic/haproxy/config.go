package haproxy

import (
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/field"
)

// Sentinel errors. Every error of the package wraps one of them (or a
// context error), so that callers can tell a bad configuration from a
// refusal of HAProxy's with [errors.Is].
var (
	// ErrInvalid is wrapped by every [field.Error] about a malformed
	// [Config] or [traffic.Route].
	ErrInvalid = errors.New("haproxy: invalid value")
	// ErrUnrealisable means no pair of HAProxy weights (0 to 256) gives
	// the asked share within [Config.Tolerance]; the error says which share
	// is nearest.
	ErrUnrealisable = errors.New("haproxy: share not realisable with server weights")
	// ErrRefused is wrapped by every [*RefusedError]: HAProxy answered,
	// and said no.
	ErrRefused = errors.New("haproxy: refused")
	// ErrProtocol means the socket answered something that is not the
	// runtime API's answer to the command sent (another service on the
	// socket, or a truncated answer).
	ErrProtocol = errors.New("haproxy: unexpected answer")
)

// MaxWeight is the largest weight HAProxy accepts for a server.
const MaxWeight = 256

// DefaultTimeout bounds an exchange with the socket when [Config.Timeout]
// is zero. The runtime API answers in well under a millisecond; a socket
// that takes seconds is a HAProxy that is stuck, and a rollback must not
// wait for it without bound.
const DefaultTimeout = 5 * time.Second

// Config says where HAProxy's runtime API listens and which servers of
// which backend run each version. Its zero value is not usable: Socket and
// Scopes are required. For example, a backend "api" with two servers on
// the stable build and one on the new one:
//
//	haproxy.Config{
//		Socket: "/run/haproxy/admin.sock",
//		Scopes: map[string]haproxy.Scope{
//			"api": {Versions: map[string][]string{
//				"v1.4": {"api1", "api2"},
//				"v1.5": {"api3"},
//			}},
//		},
//	}
type Config struct {
	// Socket is HAProxy's stats socket, which must be declared with
	// "level admin" (weights are an admin command): a Unix socket path
	// ("/run/haproxy/admin.sock", anything with a '/'), or host:port of a
	// TCP socket ("stats socket ipv4@127.0.0.1:9999 level admin").
	// Required.
	Socket string `json:"socket"`
	// Timeout bounds every exchange with the socket (connect, send the
	// commands, read the whole answer), on top of the caller's context.
	// Zero means [DefaultTimeout].
	Timeout duration.Duration `json:"timeout,omitempty"`
	// Tolerance is how far, in percentage points, the share that the
	// weights realise may be from the share asked. Zero means exactly
	// (up to float rounding): whole percentages are always exact, and a
	// share that is not exact (0.1% with one server per version: the
	// nearest is 1 in 257) is refused with [ErrUnrealisable] rather than
	// silently rounded.
	Tolerance float64 `json:"tolerance,omitempty"`
	// Scopes maps each scope, the name a rollout passes to SetRoute, to
	// the backend that serves it. At least one.
	Scopes map[string]Scope `json:"scopes"`
}

// Scope is one HAProxy backend and the versions its servers run.
//
// The backend must balance with a dynamic algorithm (roundrobin, leastconn,
// random, or consistent hashing): with roundrobin, the split of requests
// follows the ratio of weights. HAProxy refuses weight changes in a
// static-rr backend, and SetRoute reports the refusal.
//
// The servers of one version get equal weights: they are taken to be alike.
// Servers of the backend that no version lists are left alone, and must
// carry no traffic (weight 0, drained or in maintenance), or the split
// would not be what the route says: SetRoute and Route refuse to guess.
type Scope struct {
	// Backend is the name of the backend in haproxy.cfg. Zero means the
	// scope's own name.
	Backend string `json:"backend,omitempty"`
	// Versions maps each version (a release name, or a pool name such as
	// "blue" and "green") to the servers of the backend that run it,
	// named as on their "server" lines. A server runs one version; every
	// version has at least one server. Required.
	Versions map[string][]string `json:"versions"`
	// Match, when set, lets [Router.SetMatch] send requests that carry a
	// header value to the canary whatever the weights. nil means the
	// scope has no header matches, and SetMatch refuses it.
	Match *Match `json:"match,omitempty"`
}

// Match is the HAProxy map through which a backend sends requests with a
// header value to a named server. The backend needs a use-server rule that
// looks the header up in the map, and the map file must exist (empty is
// fine):
//
//	backend api
//	    balance roundrobin
//	    use-server %[req.hdr(X-Canary),map(/etc/haproxy/canary.map)] if { req.hdr(X-Canary),map(/etc/haproxy/canary.map) -m found }
//	    server api1 ...
//
// HAProxy's use-server rules take precedence over balancing and work on a
// server of weight 0, so matched requests reach the canary even at 0%.
type Match struct {
	// Header is the request header the rule looks up, for example
	// "X-Canary". Required; a [traffic.Match] on another header is refused.
	Header string `json:"header"`
	// Map is the map file's path, exactly as haproxy.cfg names it.
	// Required.
	Map string `json:"map"`
}

// backend returns the backend's name with the default applied.
func (s Scope) backend(scope string) string {
	if s.Backend == "" {
		return scope
	}
	return s.Backend
}

// Validate reports every problem with the configuration, each as a
// [*field.Error] that wraps [ErrInvalid] and names its field.
func (c Config) Validate() error {
	var l field.List
	if c.Socket == "" {
		l.Add(ErrInvalid, "Config.Socket", "must be set: a Unix socket path or host:port of HAProxy's stats socket (level admin)")
	} else if strings.ContainsAny(c.Socket, "\x00\n") {
		l.Add(ErrInvalid, "Config.Socket", "must not contain NUL or newline, got %q", c.Socket)
	} else if network, addr := socketAddr(c.Socket); network == "tcp" {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			l.Add(ErrInvalid, "Config.Socket", "%q is neither a path (with a '/') nor host:port", c.Socket)
		}
	}
	if c.Timeout < 0 {
		l.Add(ErrInvalid, "Config.Timeout", "must not be negative, got %s", c.Timeout)
	}
	if math.IsNaN(c.Tolerance) || math.IsInf(c.Tolerance, 0) || c.Tolerance < 0 || c.Tolerance > 100 {
		l.Add(ErrInvalid, "Config.Tolerance", "must be between 0 and 100 percentage points, got %v", c.Tolerance)
	}
	if len(c.Scopes) == 0 {
		l.Add(ErrInvalid, "Config.Scopes", "must hold at least one scope")
	}
	backends := make(map[string]string) // backend -> scope
	for _, name := range sortedKeys(c.Scopes) {
		s := c.Scopes[name]
		path := fmt.Sprintf("Config.Scopes[%q]", name)
		if name == "" {
			l.Add(ErrInvalid, path, "a scope needs a name")
		}
		b := s.backend(name)
		if s.Backend != "" {
			if err := checkName(s.Backend); err != "" {
				l.Add(ErrInvalid, path+".Backend", "%s", err)
			}
		} else if err := checkName(name); err != "" && name != "" {
			l.Add(ErrInvalid, path+".Backend", "is empty, so the scope's name is the backend's, and it %s; set Backend", err)
		}
		if other, ok := backends[b]; ok {
			l.Add(ErrInvalid, path+".Backend", "backend %q also serves scope %q: two scopes would fight over its weights", b, other)
		}
		backends[b] = name
		if len(s.Versions) == 0 {
			l.Add(ErrInvalid, path+".Versions", "must hold at least one version")
		}
		if m := s.Match; m != nil {
			if err := checkToken(m.Header); err != "" {
				l.Add(ErrInvalid, path+".Match.Header", "%s", err)
			}
			if m.Map == "" || strings.ContainsAny(m.Map, " \t\r\n;\\\x00") {
				l.Add(ErrInvalid, path+".Match.Map", "must be the map file's path as haproxy.cfg names it, without spaces or ';', got %q", m.Map)
			}
		}
		owner := make(map[string]string) // server -> version
		for _, v := range sortedKeys(s.Versions) {
			vpath := fmt.Sprintf("%s.Versions[%q]", path, v)
			if v == "" {
				l.Add(ErrInvalid, vpath, "a version needs a name")
			}
			servers := s.Versions[v]
			if len(servers) == 0 {
				l.Add(ErrInvalid, vpath, "must list at least one server")
			}
			for i, srv := range servers {
				spath := fmt.Sprintf("%s[%d]", vpath, i)
				if err := checkName(srv); err != "" {
					l.Add(ErrInvalid, spath, "%s", err)
					continue
				}
				if o, ok := owner[srv]; ok {
					if o == v {
						l.Add(ErrInvalid, spath, "server %q is listed twice", srv)
					} else {
						l.Add(ErrInvalid, spath, "server %q already runs version %q: a server runs one version", srv, o)
					}
					continue
				}
				owner[srv] = v
			}
		}
	}
	return l.Err()
}

// checkName says what is wrong with a backend or server name, or "". The
// characters are those HAProxy allows in names; anything else could not
// name a real server, and a ';', a space or a newline would let a name
// smuggle commands into the runtime API's command line.
func checkName(s string) string {
	if s == "" {
		return "must not be empty"
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == ':':
		default:
			return fmt.Sprintf("%q has the character %q; HAProxy names are made of letters, digits, '-', '_', '.' and ':'", s, r)
		}
	}
	return ""
}

// checkToken says what is wrong with a header name or a header value to
// match, or "". The runtime API's command line splits on spaces and ';',
// so a value is kept to characters that need no escaping: letters, digits
// and -_.:=/+@.
func checkToken(s string) string {
	if s == "" {
		return "must not be empty"
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("-_.:=/+@", r):
		default:
			return fmt.Sprintf("%q has the character %q; use letters, digits and -_.:=/+@", s, r)
		}
	}
	return ""
}

// socketAddr splits Config.Socket into a network and an address for
// net.Dial: a path (anything with a '/') is a Unix socket, the rest is TCP.
func socketAddr(s string) (network, addr string) {
	if strings.Contains(s, "/") {
		return "unix", s
	}
	return "tcp", s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// formatPercent prints a share without float noise ("12.5", "33.333333").
func formatPercent(p float64) string {
	return strconv.FormatFloat(p, 'f', -1, 64)
}
