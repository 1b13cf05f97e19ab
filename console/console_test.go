package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/shepherd-go/shepherd/console"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/wave"
)

// hosts is a deployer that remembers what each host runs.
type hosts struct{ m sync.Map }

func (h *hosts) Deploy(ctx context.Context, t wave.Target, version string) error {
	h.m.Store(t.ID, version)
	return nil
}

func (h *hosts) Version(ctx context.Context, t wave.Target) (string, error) {
	v, _ := h.m.LoadOrStore(t.ID, "v1")
	return v.(string), nil
}

// heldStage is the stage that waits for an approval.
const heldStage = "w1/one-box/eu-west-1"

// fixture is a console over one running rollout whose first stage waits
// for an approval, which only alice may give.
type fixture struct {
	con    *console.Console
	runner *rollout.Runner
	done   chan error
	audit  chan console.AuditEntry
}

// start creates the rollout, tracks it in a console and runs it until the
// test ends.
func start(t *testing.T, actor func(*http.Request) (string, error)) *fixture {
	t.Helper()
	var fleet []wave.Target
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		for i := range 10 {
			zone := fmt.Sprintf("%s%c", region, 'a'+i%2)
			fleet = append(fleet, wave.Target{ID: fmt.Sprintf("%s-%d", zone, i), Location: []string{region, zone}})
		}
	}
	none := duration.None
	plan, err := wave.Policy{First: []string{"eu-west-1"}, Bake: wave.BakeSchedule{OneBox: none, Zone: none, FirstWave: none, LaterWaves: none, Final: none}}.Plan(fleet)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{done: make(chan error, 1), audit: make(chan console.AuditEntry, 16)}
	f.con = console.New(console.Config{Actor: actor, Audit: func(e console.AuditEntry) { f.audit <- e }})
	view := f.con.Track("demo", plan)
	f.runner, err = rollout.Create(t.Context(), rollout.Spec{
		ID: "demo", Plan: *plan, Version: "v2",
		Policy: rollout.Policy{Approvals: []string{heldStage}},
	}, &hosts{}, rollout.Config{
		OnEvent: view.Event,
		Authorize: func(ctx context.Context, c rollout.Control) error {
			if c.Actor != "alice" {
				return fmt.Errorf("%s may not %s", c.Actor, c.Kind)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	view.Attach(f.runner)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { f.done <- f.runner.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-f.done
		f.runner.Close()
	})
	f.waitFor(t, func(p rollout.Progress) bool { return p.AwaitingApproval && p.Stage == heldStage })
	return f
}

// waitFor waits (in real time, at most 20s) until the rollout's progress
// satisfies ok.
func (f *fixture) waitFor(t *testing.T, ok func(rollout.Progress) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok(f.runner.Progress()) {
		if time.Now().After(deadline) {
			t.Fatalf("progress never came: %+v", f.runner.Progress())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// headerActor names the user by the X-User header.
func headerActor(r *http.Request) (string, error) {
	if u := r.Header.Get("X-User"); u != "" {
		return u, nil
	}
	return "", errors.New("not signed in")
}

func post(t *testing.T, srv *httptest.Server, user, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", srv.URL+"/r/demo/control", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if user != "" {
		req.Header.Set("X-User", user)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans map[string]any
	json.NewDecoder(resp.Body).Decode(&ans)
	msg, _ := ans["error"].(string)
	return resp.StatusCode, msg
}

// TestControls goes through every answer of the control endpoint and
// checks the audit of each.
func TestControls(t *testing.T) {
	f := start(t, headerActor)
	srv := httptest.NewServer(f.con)
	defer srv.Close()
	approve := `{"kind": "approve", "stage": "` + heldStage + `"}`
	tests := []struct {
		name   string
		user   string
		body   string
		hdr    map[string]string
		status int
		audit  *console.AuditEntry // nil: the request is refused before the console sees it
	}{
		{"not signed in", "", approve, nil, 401, &console.AuditEntry{Kind: "approve", Stage: heldStage, Status: 401}},
		{"refused by the authoriser", "mallory", approve, nil, 403, &console.AuditEntry{Actor: "mallory", Kind: "approve", Stage: heldStage, Status: 403}},
		{"bad body", "alice", `{"kind": "approve", "stag": "x"}`, nil, 400, &console.AuditEntry{Status: 400}},
		{"unknown stage", "alice", `{"kind": "approve", "stage": "w9/nowhere"}`, nil, 400, &console.AuditEntry{Actor: "alice", Kind: "approve", Stage: "w9/nowhere", Status: 400}},
		{"from another site", "alice", approve, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, nil},
		{"approved", "alice", approve, nil, 200, &console.AuditEntry{Actor: "alice", Kind: "approve", Stage: heldStage, Status: 200, Allowed: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, msg := post(t, srv, tt.user, tt.body, tt.hdr)
			if status != tt.status {
				t.Fatalf("status %d (%s), want %d", status, msg, tt.status)
			}
			if tt.audit == nil {
				select {
				case e := <-f.audit:
					t.Fatalf("audited %+v", e)
				default:
				}
				return
			}
			got := <-f.audit
			if diff := cmp.Diff(*tt.audit, got, cmpopts.IgnoreFields(console.AuditEntry{}, "Time", "Error", "Rollout")); diff != "" {
				t.Errorf("audit (-want +got):\n%s", diff)
			}
			if (got.Error == "") != got.Allowed {
				t.Errorf("allowed %t with error %q", got.Allowed, got.Error)
			}
		})
	}
	f.waitFor(t, func(p rollout.Progress) bool { return p.Phase == rollout.Succeeded })
	if n := len(f.con.Audit("demo")); n != 5 {
		t.Errorf("the console audited %d requests, want 5", n)
	}
	// Once the rollout is over, requests are a conflict.
	if status, _ := post(t, srv, "alice", `{"kind": "pause", "reason": "late"}`, nil); status != http.StatusConflict {
		t.Errorf("a pause after the end: status %d, want 409", status)
	}
}

// TestNoActor refuses every control request when the console cannot say
// who asks.
func TestNoActor(t *testing.T) {
	f := start(t, nil)
	srv := httptest.NewServer(f.con)
	defer srv.Close()
	if status, msg := post(t, srv, "alice", `{"kind": "approve", "stage": "`+heldStage+`"}`, nil); status != 403 {
		t.Errorf("status %d (%s), want 403", status, msg)
	}
	if !f.runner.Progress().AwaitingApproval {
		t.Error("the stage went on")
	}
}

// TestReadEndpoints reads the progress, the list, the timeline, the page
// and the event stream.
func TestReadEndpoints(t *testing.T) {
	f := start(t, headerActor)
	srv := httptest.NewServer(f.con)
	defer srv.Close()
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		bufio.NewReader(resp.Body).WriteTo(&b)
		return resp, b.String()
	}
	resp, body := get("/r/demo/progress")
	var p rollout.Progress
	if err := json.Unmarshal([]byte(body), &p); err != nil || resp.StatusCode != 200 {
		t.Fatalf("progress: %d %v\n%s", resp.StatusCode, err, body)
	}
	if p.Stage != heldStage || !p.AwaitingApproval {
		t.Errorf("progress: stage %q, awaiting %t", p.Stage, p.AwaitingApproval)
	}
	if _, body := get("/rollouts"); !strings.Contains(body, `"id": "demo"`) {
		t.Errorf("list:\n%s", body)
	}
	if resp, body := get("/r/demo/timeline.svg"); resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(body, heldStage) {
		t.Errorf("timeline: %s\n%.300s", resp.Header.Get("Content-Type"), body)
	}
	if resp, body := get("/r/demo/"); resp.StatusCode != 200 || !strings.Contains(body, `id="approve"`) || strings.Contains(body, "src=\"http") {
		t.Errorf("page: %d\n%.300s", resp.StatusCode, body)
	}
	if resp, _ := get("/r/demo"); resp.Request.URL.Path != "/r/demo/" {
		t.Errorf("/r/demo led to %s", resp.Request.URL)
	}
	if resp, _ := get("/r/nothing/progress"); resp.StatusCode != 404 {
		t.Errorf("unknown rollout: %d", resp.StatusCode)
	}
	if _, body := get("/"); !strings.Contains(body, `href="r/demo/"`) {
		t.Errorf("list page:\n%s", body)
	}

	// The stream replays the events so far, then goes on live.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/r/demo/events", nil)
	sresp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	if ct := sresp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("content type %q", ct)
	}
	sc := bufio.NewScanner(sresp.Body)
	seen := map[rollout.EventKind]bool{}
	approved := false
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var e rollout.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("event %q: %v", line, err)
		}
		seen[e.Kind] = true
		if e.Kind == rollout.EventAwaitingApproval && !approved {
			approved = true
			if status, msg := post(t, srv, "alice", `{"kind": "approve", "stage": "`+heldStage+`"}`, nil); status != 200 {
				t.Fatalf("approve: %d %s", status, msg)
			}
		}
		if e.Kind == rollout.EventSucceeded {
			break
		}
	}
	for _, k := range []rollout.EventKind{rollout.EventStarted, rollout.EventAwaitingApproval, rollout.EventApproved, rollout.EventSucceeded} {
		if !seen[k] {
			t.Errorf("the stream had no %s event", k)
		}
	}
}
