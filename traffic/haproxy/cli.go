package haproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// maxAnswer bounds what an exchange reads: "show servers state" of a
// backend with HAProxy's largest server count is well under it, and a
// socket that streams without end is not HAProxy.
const maxAnswer = 8 << 20

// RefusedError is HAProxy's refusal of one command: the backend or server
// does not exist, the socket's level is not admin, the backend's balance
// algorithm is static, and so on.
type RefusedError struct {
	// Backend and Server name what the command was about; Server is empty
	// for a command about the whole backend.
	Backend, Server string
	// Command is the command sent.
	Command string
	// Message is HAProxy's answer, for example "No such server.".
	Message string
}

// Error names the server (or backend) and quotes HAProxy.
func (e *RefusedError) Error() string {
	who := "backend " + e.Backend
	if e.Server != "" {
		who = "server " + e.Backend + "/" + e.Server
	}
	return fmt.Sprintf("haproxy: %s: %q refused: %s", who, e.Command, e.Message)
}

// Unwrap returns [ErrRefused].
func (e *RefusedError) Unwrap() error { return ErrRefused }

// exchange sends cmds on one connection, as one line separated by ';' so
// that HAProxy runs them back to back, and returns each command's answer
// (without its terminating empty line). The whole exchange, dial included,
// ends by the router's timeout or ctx, whichever is first.
func (r *Router) exchange(ctx context.Context, cmds ...string) ([]string, error) {
	line := strings.Join(cmds, ";")
	ctx, cancel := context.WithTimeoutCause(ctx, r.timeout,
		fmt.Errorf("haproxy: socket %s did not answer %q within %s: %w", r.cfg.Socket, line, r.timeout, context.DeadlineExceeded))
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, r.network, r.addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, fmt.Errorf("haproxy: socket %s: %w", r.cfg.Socket, err)
	}
	defer conn.Close()
	// The deadline covers a peer that stops reading or writing; the
	// AfterFunc wakes blocked I/O as soon as the caller gives up.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	answer, err := func() ([]byte, error) {
		if _, err := io.WriteString(conn, line+"\n"); err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(conn, maxAnswer+1))
		if err != nil {
			return nil, err
		}
		if len(b) > maxAnswer {
			return nil, fmt.Errorf("%w: answer to %q is longer than %d bytes", ErrProtocol, line, maxAnswer)
		}
		return b, nil
	}()
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The connection's deadline is ctx's, or set when ctx ended:
			// ctx is done, or will be in a moment (its timer and the
			// poller's are not the same).
			<-ctx.Done()
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		if errors.Is(err, ErrProtocol) {
			return nil, err
		}
		return nil, fmt.Errorf("haproxy: socket %s: %q: %w", r.cfg.Socket, line, err)
	}
	answers, err := splitAnswers(string(answer), len(cmds))
	if err != nil {
		return nil, fmt.Errorf("%w (socket %s, command %q)", err, r.cfg.Socket, line)
	}
	return answers, nil
}

// splitAnswers cuts the output of n commands into their answers. In
// non-interactive mode the runtime API ends each command's answer with an
// empty line, and no answer of the commands used here holds an empty line
// of its own: a weight change that succeeds answers with the empty line
// alone.
func splitAnswers(s string, n int) ([]string, error) {
	out := make([]string, 0, n)
	for len(out) < n {
		if s == "" {
			return nil, fmt.Errorf("%w: %d answers for %d commands", ErrProtocol, len(out), n)
		}
		if s[0] == '\n' {
			out = append(out, "")
			s = s[1:]
			continue
		}
		i := strings.Index(s, "\n\n")
		if i < 0 {
			return nil, fmt.Errorf("%w: answer %.80q is not terminated by an empty line", ErrProtocol, s)
		}
		out = append(out, s[:i])
		s = s[i+2:]
	}
	if s != "" {
		return nil, fmt.Errorf("%w: %q after the answers of %d commands", ErrProtocol, s, n)
	}
	return out, nil
}

// server is one server's line of "show servers state".
type server struct {
	Name   string
	Weight int // srv_uweight: the current weight, as set
	Op     int // srv_op_state
	Admin  int // srv_admin_state
}

// Operational and administrative states of "show servers state"
// (HAProxy's management guide, format 1).
const (
	opStarting  = 1 // up, warming up: takes requests, throttled
	opRunning   = 2
	adminMaint  = 0x01 | 0x02 | 0x04 | 0x20 // forced, inherited, configured, resolution failure
	adminDrain  = 0x08 | 0x10               // forced, inherited
	maxServers  = 1 << 20
	stateFormat = "1"
)

// serving reports whether HAProxy sends new requests to the server: it is
// up (or warming up), not in maintenance and not draining. Its weight then
// says how many.
func (s server) serving() bool {
	return (s.Op == opRunning || s.Op == opStarting) && s.Admin&(adminMaint|adminDrain) == 0
}

// effective is the weight the server takes requests with now.
func (s server) effective() int {
	if !s.serving() {
		return 0
	}
	return s.Weight
}

// parseState reads the answer to "show servers state <backend>": the
// servers of the backend, in order. Columns are found by their header
// names, so a HAProxy that adds columns still parses; an answer that is not
// a state dump is returned as a refusal message for the caller to wrap.
func parseState(backend, answer string) ([]server, error) {
	lines := strings.Split(answer, "\n")
	if lines[0] != stateFormat {
		if len(lines) == 1 && answer != "" && len(answer) < 200 {
			return nil, &RefusedError{Backend: backend, Command: "show servers state " + backend, Message: answer}
		}
		return nil, fmt.Errorf("%w: servers state of backend %s: want format %q first, got %.80q", ErrProtocol, backend, stateFormat, answer)
	}
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "# ") {
		return nil, fmt.Errorf("%w: servers state of backend %s has no header line", ErrProtocol, backend)
	}
	col := map[string]int{"be_name": -1, "srv_name": -1, "srv_uweight": -1, "srv_op_state": -1, "srv_admin_state": -1}
	header := strings.Fields(lines[1][2:])
	for i, h := range header {
		if _, ok := col[h]; ok {
			col[h] = i
		}
	}
	for _, h := range sortedKeys(col) {
		if col[h] < 0 {
			return nil, fmt.Errorf("%w: servers state of backend %s has no column %s", ErrProtocol, backend, h)
		}
	}
	var out []server
	seen := make(map[string]bool)
	for n, l := range lines[2:] {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		if len(f) < len(header) {
			return nil, fmt.Errorf("%w: servers state of backend %s, line %d: %d fields for %d columns", ErrProtocol, backend, n+3, len(f), len(header))
		}
		if f[col["be_name"]] != backend {
			// "show servers state" is asked for one backend; a line of
			// another is not an answer to that.
			return nil, fmt.Errorf("%w: servers state of backend %s, line %d is about backend %q", ErrProtocol, backend, n+3, f[col["be_name"]])
		}
		s := server{Name: f[col["srv_name"]]}
		var err error
		if s.Weight, err = atoi(f[col["srv_uweight"]], 0, MaxWeight); err == nil {
			if s.Op, err = atoi(f[col["srv_op_state"]], 0, 3); err == nil {
				s.Admin, err = atoi(f[col["srv_admin_state"]], 0, 0xff)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w: servers state of backend %s, server %s: %v", ErrProtocol, backend, s.Name, err)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("%w: servers state of backend %s lists server %s twice", ErrProtocol, backend, s.Name)
		}
		if len(out) == maxServers {
			return nil, fmt.Errorf("%w: servers state of backend %s lists more than %d servers", ErrProtocol, backend, maxServers)
		}
		seen[s.Name] = true
		out = append(out, s)
	}
	return out, nil
}

func atoi(s string, lo, hi int) (int, error) {
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("%q is not a number from %d to %d", s, lo, hi)
	}
	return v, nil
}
