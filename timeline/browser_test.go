//go:build unix

package timeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/internal/testenv"
)

// artifactsEnv names the environment variable that says where TestBrowser
// saves its screenshots (timeline-run.png, timeline-hostile.png). Unset, they
// go to the test's temporary directory and are deleted with it; CI sets it
// to keep them.
const artifactsEnv = "SHEPHERD_TEST_ARTIFACTS"

// chromium runs headless Chromium once with the given arguments and returns
// its standard output. The browser and every process it starts run in their
// own process group, which is killed as soon as the browser exits or the
// timeout (90s) expires.
func chromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	home := t.TempDir()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + filepath.Join(home, "profile"),
	}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_CACHE_HOME="+home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Files, not pipes: helper processes inherit the descriptors, and Wait
	// would wait for them to close a pipe.
	stdout, err := os.Create(filepath.Join(home, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(home, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	killGroup := func() error {
		if cmd.Process == nil {
			return nil
		}
		// The group id is the browser's pid (Setpgid).
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	cmd.Cancel = killGroup
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	err = cmd.Wait()
	// Helpers that outlive the main process (zygote, crashpad) are killed
	// with it, at once, while the group id is still theirs.
	_ = killGroup()
	errText, _ := os.ReadFile(stderr.Name())
	if ctx.Err() != nil {
		t.Fatalf("chromium %v: no answer within the timeout; stderr:\n%s", args, errText)
	}
	if err != nil {
		t.Fatalf("chromium %v: %v; stderr:\n%s", args, err, errText)
	}
	out, err := os.ReadFile(stdout.Name())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writePage(t *testing.T, dir, name string, tl *Timeline) string {
	t.Helper()
	var b bytes.Buffer
	if err := tl.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return "file://" + path
}

// TestBrowser opens two timeline pages (a run, and one with hostile stage
// names) in headless Chromium (Debian's chromium package) and checks what
// the browser built from them: every stage is an SVG text with its name,
// every span an SVG rect, hostile stage names stay text, and the screenshot
// shows the spans' colours. Screenshots are saved in
// $SHEPHERD_TEST_ARTIFACTS when it is set. Under make test a missing
// chromium fails the test; under a bare go test it skips.
func TestBrowser(t *testing.T) {
	bin := testenv.LookPath(t, "chromium", "/usr/bin/chromium")
	pages := t.TempDir()
	artifacts := os.Getenv(artifactsEnv)
	if artifacts == "" {
		artifacts = t.TempDir()
	} else if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		tl      *Timeline
		colours []string // span colours that must be painted
	}{
		{"run", runTimeline(), []string{styles[Deploying].fill, styles[Baking].fill, styles[RollingBack].fill, styles[Blocked].fill}},
		{"hostile", hostileTimeline(), []string{styles[Deploying].fill}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := writePage(t, pages, tc.name+".html", tc.tl)
			png := filepath.Join(artifacts, "timeline-"+tc.name+".png")
			// One launch does both: the DOM on stdout and the screenshot.
			dom := string(chromium(t, bin, "--window-size=1280,900", "--hide-scrollbars", "--screenshot="+png, "--dump-dom", url))

			spans := 0
			for _, r := range tc.tl.Rows {
				spans += len(r.Spans)
				// Long names are cut in the SVG: compare a prefix.
				prefix := []rune(clean(r.Name))
				prefix = prefix[:min(len(prefix), 15)]
				var name bytes.Buffer
				svgWriter{&name}.text(string(prefix))
				// The DOM serialiser writes text with &lt; &gt; &amp; only.
				want := strings.NewReplacer("&#34;", `"`, "&#39;", "'").Replace(name.String())
				if !containsText(dom, "text", `class="stage"`, want) {
					t.Errorf("stage %q is not an SVG text in the rendered DOM", r.Name)
				}
			}
			if got := strings.Count(dom, `<rect class="span `); got != spans {
				t.Errorf("rendered DOM has %d span rects, want %d", got, spans)
			}
			if got := strings.Count(dom, `<g class="row"`); got != len(tc.tl.Rows) {
				t.Errorf("rendered DOM has %d rows, want %d", got, len(tc.tl.Rows))
			}
			if strings.Contains(dom, "<script") || strings.Contains(dom, "<img") {
				t.Errorf("rendered DOM holds an element made from a stage name:\n%s", dom)
			}
			// The spans' colours are on the screenshot: the SVG was
			// painted, not only parsed.
			checkScreenshot(t, png, tc.colours)
			t.Logf("screenshot: %s", png)
		})
	}
}

// containsText reports whether dom has an element <tag ...attr...> whose
// text starts with want.
func containsText(dom, tag, attr, want string) bool {
	for rest := dom; ; {
		i := strings.Index(rest, "<"+tag+" ")
		if i < 0 {
			return false
		}
		rest = rest[i:]
		end := strings.IndexByte(rest, '>')
		if end < 0 {
			return false
		}
		if strings.Contains(rest[:end], attr) && strings.HasPrefix(rest[end+1:], want) {
			return true
		}
		rest = rest[end:]
	}
}

// checkScreenshot decodes the PNG and looks for each colour (as "#rrggbb")
// among its pixels.
func checkScreenshot(t *testing.T, path string, colours []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("screenshot not written: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 900 {
		t.Errorf("screenshot is %dx%d, want 1280x900", b.Dx(), b.Dy())
	}
	seen := map[[3]int]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]int{int(r >> 8), int(g >> 8), int(bl >> 8)}] = true
		}
	}
	for _, c := range colours {
		want := rgb(c)
		found := false
		// Colour management and blending may move a channel by a few
		// units.
		for px := range seen {
			if abs(px[0]-want[0]) <= 4 && abs(px[1]-want[1]) <= 4 && abs(px[2]-want[2]) <= 4 {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("screenshot %s has no pixel of %s", path, c)
		}
	}
}

func abs(x int) int { return max(x, -x) }

func rgb(hex string) [3]int {
	var c [3]int
	fmt.Sscanf(hex, "#%02x%02x%02x", &c[0], &c[1], &c[2])
	return c
}
