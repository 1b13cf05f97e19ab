//go:build unix

package console_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/internal/testenv"
	"github.com/shepherd-go/shepherd/rollout"
)

// browser is headless Chromium driven over the DevTools protocol on a pipe
// (--remote-debugging-pipe: commands on its fd 3, answers on its fd 4, each
// message JSON ended by a NUL byte), which needs no WebSocket client.
type browser struct {
	t       *testing.T
	cmd     *exec.Cmd
	in      *os.File // our end of the commands pipe
	mu      sync.Mutex
	nextID  int
	waiting map[int]chan cdpAnswer
	session string
	readErr chan error
}

type cdpAnswer struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// startBrowser starts Chromium and opens one page, at url. The browser and
// every process it starts run in their own process group, killed when the
// test ends.
func startBrowser(t *testing.T, bin, url string) *browser {
	t.Helper()
	home := t.TempDir()
	cmdR, cmdW, err := os.Pipe() // we write commands, Chromium reads fd 3
	if err != nil {
		t.Fatal(err)
	}
	ansR, ansW, err := os.Pipe() // Chromium writes answers on fd 4
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+filepath.Join(home, "profile"),
		"--window-size=1280,900", "--remote-debugging-pipe", "about:blank")
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_CACHE_HOME="+home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.ExtraFiles = []*os.File{cmdR, ansW}
	stderr, err := os.Create(filepath.Join(home, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	cmdR.Close()
	ansW.Close()
	b := &browser{t: t, cmd: cmd, in: cmdW, waiting: map[int]chan cdpAnswer{}, readErr: make(chan error, 1)}
	go b.read(ansR)
	t.Cleanup(func() {
		cmdW.Close()
		// The group id is the browser's pid (Setpgid): helpers that
		// outlive it (zygote, crashpad) go with it.
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Logf("killing chromium: %v", err)
		}
		cmd.Wait()
		ansR.Close()
		stderr.Close()
		if t.Failed() {
			text, _ := os.ReadFile(stderr.Name())
			t.Logf("chromium's stderr:\n%s", text)
		}
	})

	var created struct {
		TargetID string `json:"targetId"`
	}
	b.call("", "Target.createTarget", map[string]any{"url": url}, &created)
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	b.call("", "Target.attachToTarget", map[string]any{"targetId": created.TargetID, "flatten": true}, &attached)
	b.session = attached.SessionID
	return b
}

// read dispatches Chromium's answers to the calls waiting for them; events
// are ignored.
func (b *browser) read(r *os.File) {
	br := bufio.NewReader(r)
	for {
		msg, err := br.ReadBytes(0)
		if err != nil {
			b.readErr <- err
			return
		}
		var m struct {
			ID int `json:"id"`
			cdpAnswer
		}
		if json.Unmarshal(bytes.TrimSuffix(msg, []byte{0}), &m) != nil || m.ID == 0 {
			continue
		}
		b.mu.Lock()
		ch := b.waiting[m.ID]
		delete(b.waiting, m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m.cdpAnswer
		}
	}
}

// call sends a DevTools command (to the page's session unless session is
// "" and this is a browser command) and decodes its result into out.
func (b *browser) call(session, method string, params any, out any) {
	b.t.Helper()
	if err := b.try(session, method, params, out); err != nil {
		b.t.Fatal(err)
	}
}

// try is call, returning the error instead of failing the test.
func (b *browser) try(session, method string, params any, out any) error {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpAnswer, 1)
	b.waiting[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if _, err := b.in.Write(append(data, 0)); err != nil {
		return fmt.Errorf("%s: writing to chromium: %v", method, err)
	}
	select {
	case a := <-ch:
		if a.Error != nil {
			return fmt.Errorf("%s: %s", method, a.Error.Message)
		}
		if out != nil {
			if err := json.Unmarshal(a.Result, out); err != nil {
				return fmt.Errorf("%s: %v", method, err)
			}
		}
		return nil
	case err := <-b.readErr:
		b.readErr <- err
		return fmt.Errorf("%s: chromium closed its pipe: %v", method, err)
	case <-time.After(60 * time.Second):
		return fmt.Errorf("%s: no answer within 60s", method)
	}
}

// eval evaluates a JavaScript expression in the page and returns its value
// as JSON.
func (b *browser) eval(expr string) json.RawMessage {
	b.t.Helper()
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	b.call(b.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res)
	if res.ExceptionDetails != nil {
		b.t.Fatalf("evaluating %s: %s", expr, res.ExceptionDetails.Text)
	}
	return res.Result.Value
}

// waitTrue waits until the expression is true in the page, at most 30s.
// While the page loads, the expression may throw, or the evaluation fail:
// that is not yet true.
func (b *browser) waitTrue(what, expr string) {
	b.t.Helper()
	wrapped := "(() => { try { return !!(" + expr + "); } catch (e) { return false; } })()"
	deadline := time.Now().Add(30 * time.Second)
	for {
		var res struct {
			Result struct {
				Value json.RawMessage `json:"value"`
			} `json:"result"`
		}
		err := b.try(b.session, "Runtime.evaluate", map[string]any{"expression": wrapped, "returnByValue": true}, &res)
		if err == nil && string(res.Result.Value) == "true" {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the page never showed %s (%s; last error %v); its text:\n%s", what, expr, err, b.eval("document.body ? document.body.innerText : ''"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// screenshot saves the page as a PNG in $SHEPHERD_TEST_ARTIFACTS (or the
// test's temporary directory).
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("SHEPHERD_TEST_ARTIFACTS")
	if dir == "" {
		dir = b.t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	var shot struct {
		Data string `json:"data"`
	}
	b.call(b.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

// cookieActor names the user by the "user" cookie, as a team's session
// would.
func cookieActor(r *http.Request) (string, error) {
	c, err := r.Cookie("user")
	if err != nil {
		return "", errors.New("not signed in")
	}
	return c.Value, nil
}

// TestBrowser opens the console of a running rollout, mounted under
// /deploys/ in a team's server, in headless Chromium (Debian's chromium
// package): the page shows the stage that waits for an approval; mallory
// presses approve and is refused (403, audited) while the stage stays held;
// alice presses approve and the rollout goes on to succeed, which the page
// shows. Under make test a missing chromium fails the test; under a bare
// go test it skips.
func TestBrowser(t *testing.T) {
	bin := testenv.LookPath(t, "chromium", "/usr/bin/chromium")
	f := start(t, cookieActor)
	mux := http.NewServeMux()
	// The team's sign-in: a cookie naming the user.
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "user", Value: r.URL.Query().Get("user"), Path: "/"})
		http.Redirect(w, r, "/deploys/r/demo/", http.StatusFound)
	})
	mux.Handle("/deploys/", http.StripPrefix("/deploys", f.con))
	srv := httptest.NewServer(mux)
	// Cleanups run last first: the browser, and its event stream, go
	// before the server closes.
	t.Cleanup(srv.Close)

	b := startBrowser(t, bin, srv.URL+"/login?user=mallory")
	// The live stage, from the running rollout, with the approval it
	// waits for and the timeline drawn.
	b.waitTrue("the held stage", fmt.Sprintf(`document.body.dataset.stage === %q && !document.getElementById("waiting").hidden
		&& document.getElementById("stage").textContent.startsWith(%q) && !document.getElementById("approve").disabled`, heldStage, heldStage))
	b.waitTrue("the timeline", `document.querySelector("#timeline svg text.stage") !== null && document.getElementById("live").textContent === "live"`)
	b.screenshot("console-held.png")

	// mallory may not approve.
	b.eval(`document.getElementById("approve").click()`)
	b.waitTrue("the refusal", `document.getElementById("result").dataset.status === "403"`)
	if got := string(b.eval(`document.getElementById("result").textContent`)); !bytes.Contains([]byte(got), []byte("mallory may not approve")) {
		t.Errorf("the refusal says %s", got)
	}
	select {
	case e := <-f.audit:
		if e.Actor != "mallory" || e.Allowed || e.Status != http.StatusForbidden || e.Stage != heldStage {
			t.Errorf("audit of mallory's approval: %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("mallory's approval was not audited")
	}
	// The page lists the refused request with who made it.
	b.waitTrue("the audited refusal", `[...document.querySelectorAll("#audit tr[data-allowed=false] td")].some((td) => td.textContent === "mallory")`)
	b.screenshot("console-refused.png")
	if p := f.runner.Progress(); !p.AwaitingApproval || p.Stage != heldStage {
		t.Fatalf("after mallory's approval the rollout is at %s (awaiting %t)", p.Stage, p.AwaitingApproval)
	}

	// alice may.
	b.call(b.session, "Page.navigate", map[string]any{"url": srv.URL + "/login?user=alice"}, nil)
	b.waitTrue("the held stage for alice", fmt.Sprintf(`document.body.dataset.stage === %q && !document.getElementById("approve").disabled`, heldStage))
	b.eval(`document.getElementById("approve").click()`)
	b.waitTrue("the approval", `document.getElementById("result").dataset.status === "200"`)
	select {
	case e := <-f.audit:
		if e.Actor != "alice" || !e.Allowed || e.Stage != heldStage {
			t.Errorf("audit of alice's approval: %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("alice's approval was not audited")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for f.runner.Progress().Phase != rollout.Succeeded && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	b.waitTrue("the rollout's success", `document.body.dataset.phase === "succeeded" && document.getElementById("log").textContent.includes("approved `+heldStage+` by alice")`)
	b.screenshot("console-done.png")
}
