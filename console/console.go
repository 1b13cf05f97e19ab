// Package console is an operator console for running rollouts, to mount in
// a team's own deploy tool: an [http.Handler] that serves each rollout's
// progress as JSON, its events as a stream (Server-Sent Events), and a page
// with the live timeline and buttons to pause, resume, abort and approve.
//
//	con := console.New(console.Config{Actor: whoIsIt})
//	view := con.Track(spec.ID, &spec.Plan)
//	r, err := rollout.Create(ctx, spec, deployer, rollout.Config{
//		OnEvent:   view.Event,
//		Authorize: mayDo, // the console's buttons go through it too
//	})
//	view.Attach(r)
//	mux.Handle("/deploys/", http.StripPrefix("/deploys", con))
//
// # Who may do what
//
// The console does not know your users. Config.Actor reads who makes a
// request (from your session cookie, your proxy's header, your SSO); the
// request then goes to the rollout as a [rollout.Control] through
// [rollout.Runner.Request], so that the rollout's own authoriser
// (rollout.Config.Authorize) decides, exactly as for a request from code,
// and an allowed request lands in the rollout's audit log. A refused request
// is answered 403 Forbidden; every request, allowed or refused, is recorded
// in the console's audit ([Console.Audit], the audit endpoint, and
// Config.Audit). Viewing is not authorised here: wrap the handler in your
// own middleware to restrict who sees the console.
//
// Control requests are POSTs with a JSON body, refused from other origins
// ([http.CrossOriginProtection]), so that a page elsewhere cannot press the
// buttons with the user's cookies.
//
// # Endpoints
//
// Paths are relative to where the handler is mounted:
//
//	GET  /                     the page listing the rollouts
//	GET  /rollouts             every rollout's progress, as JSON
//	GET  /r/{id}/              the rollout's page: live stage, timeline, controls
//	GET  /r/{id}/progress      its rollout.Progress, as JSON
//	GET  /r/{id}/events        its events as Server-Sent Events (event "rollout",
//	                           data a rollout.Event as JSON), from the first
//	                           (or after Last-Event-ID) and then as they happen
//	GET  /r/{id}/timeline.svg  its timeline (package timeline), drawn up to now
//	GET  /r/{id}/audit         the console's audit of its control requests
//	POST /r/{id}/control       {"kind": "approve", "stage": "...", "reason": "..."}
//
// The page shows the rollout's phase, stage and step as they change, the
// stage waiting for an approval, the live timeline, every control request
// made through the console with its answer, and the events. It is one
// embedded HTML document with its script and styles: it loads nothing from
// elsewhere.
package console

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/timeline"
	"github.com/shepherd-go/shepherd/wave"
)

// Runner is what the console needs of a running rollout; a
// [*rollout.Runner] is one.
type Runner interface {
	Progress() rollout.Progress
	Request(ctx context.Context, c rollout.Control) error
}

// Config is the console's wiring. Every field but Actor is optional.
type Config struct {
	// Actor returns who makes the request, from the request (a session,
	// a header set by an authenticating proxy). An error refuses the
	// request with 401 Unauthorized. Nil refuses every control request:
	// a console that cannot name who pressed a button steers nothing.
	Actor func(*http.Request) (actor string, err error)
	// Audit, when set, receives every control request with its outcome,
	// allowed or refused, as it happens.
	Audit func(AuditEntry)
	// MaxEvents is how many events of a rollout the console keeps for
	// streams that start late. Zero means 10,000.
	MaxEvents int
	// Logger receives a line per refused request. Nil means silence.
	Logger *slog.Logger
}

// AuditEntry is one control request made through the console.
type AuditEntry struct {
	// Time is when it was made.
	Time time.Time `json:"time"`
	// Rollout is the rollout's ID.
	Rollout string `json:"rollout"`
	// Actor is who made it, as Config.Actor said ("" when it could not).
	Actor string `json:"actor"`
	// Kind, Stage and Reason are the request.
	Kind   rollout.ControlKind `json:"kind"`
	Stage  string              `json:"stage,omitempty"`
	Reason string              `json:"reason,omitempty"`
	// Allowed says whether the rollout took the request; Status is the
	// HTTP status answered and Error why it was refused.
	Allowed bool   `json:"allowed"`
	Status  int    `json:"status"`
	Error   string `json:"error,omitempty"`
}

// Console serves the rollouts tracked with [Console.Track]. It is an
// [http.Handler]; its methods are safe for concurrent use.
type Console struct {
	cfg Config
	mux *http.ServeMux

	mu       sync.Mutex
	rollouts map[string]*View
	order    []string
}

// New returns a console with no rollouts.
func New(cfg Config) *Console {
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = 10000
	}
	c := &Console{cfg: cfg, rollouts: map[string]*View{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.listPage)
	mux.HandleFunc("GET /rollouts", c.list)
	mux.HandleFunc("GET /r/{id}/{$}", c.page)
	mux.HandleFunc("GET /r/{id}", func(w http.ResponseWriter, r *http.Request) {
		// A relative Location: the handler may be mounted under a
		// prefix it does not know (http.StripPrefix).
		w.Header().Set("Location", url.PathEscape(r.PathValue("id"))+"/")
		w.WriteHeader(http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /r/{id}/progress", c.progress)
	mux.HandleFunc("GET /r/{id}/events", c.events)
	mux.HandleFunc("GET /r/{id}/timeline.svg", c.timeline)
	mux.HandleFunc("GET /r/{id}/audit", c.audit)
	mux.Handle("POST /r/{id}/control", http.NewCrossOriginProtection().Handler(http.HandlerFunc(c.control)))
	c.mux = mux
	return c
}

// ServeHTTP serves the console.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mux.ServeHTTP(w, r)
}

// Track adds a rollout to the console, with the plan it carries out, and
// returns its view: pass the view's Event method as the rollout's
// rollout.Config.OnEvent (alone or with others), and Attach the runner once
// it exists. Tracking an ID again returns the view already there.
func (c *Console) Track(id string, plan *wave.Plan) *View {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.rollouts[id]; ok {
		return v
	}
	tl := &timeline.Timeline{Title: id}
	v := &View{id: id, max: c.cfg.MaxEvents, tl: tl, changed: make(chan struct{})}
	v.rec = timeline.NewRecorder(tl, id, plan)
	c.rollouts[id] = v
	c.order = append(c.order, id)
	return v
}

// Audit returns the console's audit of a rollout's control requests, in
// order.
func (c *Console) Audit(id string) []AuditEntry {
	v := c.view(id)
	if v == nil {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.audit)
}

func (c *Console) view(id string) *View {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rollouts[id]
}

// View is one rollout in the console: its events, its timeline and its
// runner.
type View struct {
	id  string
	max int

	mu      sync.Mutex
	runner  Runner
	rec     *timeline.Recorder
	tl      *timeline.Timeline
	events  []rollout.Event
	first   int // the sequence number of events[0], from 1
	audit   []AuditEntry
	ended   bool
	changed chan struct{} // closed and replaced at every event
}

// Event records a rollout event: pass it as rollout.Config.OnEvent. It
// does not block.
func (v *View) Event(e rollout.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.rec.Event(e)
	if v.first == 0 {
		v.first = 1
	}
	v.events = append(v.events, e)
	if n := len(v.events) - v.max; n > 0 {
		v.events = slices.Delete(v.events, 0, n)
		v.first += n
	}
	if e.Kind == rollout.EventSucceeded || e.Kind == rollout.EventRollbackFinished {
		v.ended = true
	}
	close(v.changed)
	v.changed = make(chan struct{})
}

// Attach gives the view the rollout's runner, for its progress and its
// controls. Until then the progress is unknown (503) and controls are
// refused.
func (v *View) Attach(r Runner) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.runner = r
	close(v.changed)
	v.changed = make(chan struct{})
}

func (v *View) getRunner() Runner {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.runner
}

// lookup returns the view the request names, or answers 404.
func (c *Console) lookup(w http.ResponseWriter, r *http.Request) *View {
	v := c.view(r.PathValue("id"))
	if v == nil {
		httpError(w, http.StatusNotFound, fmt.Sprintf("no rollout %q", r.PathValue("id")))
	}
	return v
}

// status is one rollout's entry in the list.
type status struct {
	ID       string            `json:"id"`
	Progress *rollout.Progress `json:"progress,omitempty"`
}

func (c *Console) statuses() []status {
	c.mu.Lock()
	ids := slices.Clone(c.order)
	c.mu.Unlock()
	var out []status
	for _, id := range ids {
		s := status{ID: id}
		if r := c.view(id).getRunner(); r != nil {
			p := r.Progress()
			s.Progress = &p
		}
		out = append(out, s)
	}
	return out
}

func (c *Console) list(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, c.statuses())
}

func (c *Console) progress(w http.ResponseWriter, r *http.Request) {
	v := c.lookup(w, r)
	if v == nil {
		return
	}
	run := v.getRunner()
	if run == nil {
		httpError(w, http.StatusServiceUnavailable, "the rollout has no runner attached yet")
		return
	}
	writeJSON(w, http.StatusOK, run.Progress())
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request) {
	v := c.lookup(w, r)
	if v == nil {
		return
	}
	a := c.Audit(v.id)
	if a == nil {
		a = []AuditEntry{}
	}
	writeJSON(w, http.StatusOK, a)
}

func (c *Console) timeline(w http.ResponseWriter, r *http.Request) {
	v := c.lookup(w, r)
	if v == nil {
		return
	}
	var b bytes.Buffer
	v.mu.Lock()
	if !v.ended {
		v.tl.Now = time.Now()
	}
	err := v.tl.WriteSVG(&b)
	v.mu.Unlock()
	if err != nil {
		// Nothing to draw yet (no event) or a timeline the recorder
		// could not complete: an empty picture, not a broken page.
		b.Reset()
		b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" width="400" height="24"><text x="4" y="16" font-family="sans-serif" font-size="12">no timeline yet</text></svg>`)
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}

// events streams the rollout's events as Server-Sent Events: the ones kept
// (after Last-Event-ID when the browser reconnects), then each as it
// happens, until the client leaves.
func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	v := c.lookup(w, r)
	if v == nil {
		return
	}
	next := 1
	if last, err := strconv.Atoi(r.Header.Get("Last-Event-ID")); err == nil && last >= 0 {
		next = last + 1
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // proxies must not hold the stream
	w.WriteHeader(http.StatusOK)
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		v.mu.Lock()
		if next < v.first {
			next = v.first // older events were dropped
		}
		var batch []rollout.Event
		if i := next - v.first; v.first > 0 && i < len(v.events) {
			batch = slices.Clone(v.events[i:])
		}
		changed := v.changed
		v.mu.Unlock()
		for _, e := range batch {
			data, err := json.Marshal(e)
			if err != nil {
				continue
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: rollout\ndata: %s\n\n", next, data); err != nil {
				return
			}
			next++
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		case <-keepalive.C:
			if _, err := io.WriteString(w, ": keepalive\n\n"); err != nil {
				return
			}
		}
	}
}

// controlRequest is the body of a control request.
type controlRequest struct {
	Kind   rollout.ControlKind `json:"kind"`
	Stage  string              `json:"stage,omitempty"`
	Reason string              `json:"reason,omitempty"`
}

// control passes a request to the rollout, through its authoriser, and
// audits it whatever the answer.
func (c *Console) control(w http.ResponseWriter, r *http.Request) {
	v := c.lookup(w, r)
	if v == nil {
		return
	}
	entry := AuditEntry{Time: time.Now(), Rollout: v.id}
	answer := func(status int, msg string) {
		entry.Status, entry.Allowed, entry.Error = status, status < 300, msg
		v.mu.Lock()
		v.audit = append(v.audit, entry)
		v.mu.Unlock()
		if c.cfg.Audit != nil {
			c.cfg.Audit(entry)
		}
		if !entry.Allowed && c.cfg.Logger != nil {
			c.cfg.Logger.Warn("console: control request refused", "rollout", v.id, "actor", entry.Actor,
				"kind", entry.Kind, "stage", entry.Stage, "status", status, "error", msg)
		}
		if entry.Allowed {
			writeJSON(w, status, map[string]any{"ok": true})
			return
		}
		httpError(w, status, msg)
	}
	var req controlRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		answer(http.StatusBadRequest, "console: the body is not a control request: "+err.Error())
		return
	}
	entry.Kind, entry.Stage, entry.Reason = req.Kind, req.Stage, req.Reason
	if c.cfg.Actor == nil {
		answer(http.StatusForbidden, "console: no Actor configured: the console cannot say who asks, so it steers nothing")
		return
	}
	actor, err := c.cfg.Actor(r)
	if err != nil || actor == "" {
		msg := "console: who is asking is unknown"
		if err != nil {
			msg += ": " + err.Error()
		}
		answer(http.StatusUnauthorized, msg)
		return
	}
	entry.Actor = actor
	run := v.getRunner()
	if run == nil {
		answer(http.StatusServiceUnavailable, "console: the rollout has no runner attached yet")
		return
	}
	err = run.Request(r.Context(), rollout.Control{Kind: req.Kind, Actor: actor, Stage: req.Stage, Reason: req.Reason})
	switch {
	case err == nil:
		answer(http.StatusOK, "")
	case errors.Is(err, rollout.ErrNotAuthorised):
		answer(http.StatusForbidden, err.Error())
	case errors.Is(err, rollout.ErrDone):
		answer(http.StatusConflict, err.Error())
	case errors.Is(err, rollout.ErrInvalid):
		answer(http.StatusBadRequest, err.Error())
	default:
		answer(http.StatusInternalServerError, err.Error())
	}
}

//go:embed page.html
var pageHTML string

var pageTmpl = template.Must(template.New("page").Parse(pageHTML))

// pageData fills the page template.
type pageData struct {
	// ID is the rollout's ID; empty on the list page.
	ID string
	// Rollouts lists the IDs, on the list page.
	Rollouts []string
}

func (c *Console) page(w http.ResponseWriter, r *http.Request) {
	v := c.lookup(w, r)
	if v == nil {
		return
	}
	renderPage(w, pageData{ID: v.id})
}

func (c *Console) listPage(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	ids := slices.Clone(c.order)
	c.mu.Unlock()
	renderPage(w, pageData{Rollouts: ids})
}

func renderPage(w http.ResponseWriter, d pageData) {
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, d); err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// The page runs only its own inline script and loads nothing from
	// elsewhere.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'self'")
	h.Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func httpError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
