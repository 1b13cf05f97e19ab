package haproxy

// These tests read the unexported parsers of the runtime API's answers, so
// they stay in the package.

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// stateAnswer is HAProxy 2.6's answer to "show servers state app" for a
// backend with two servers, the second at weight 0.
const stateAnswer = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 app 1 s1 127.0.0.1 2 0 1 1 1 1 0 2 0 0 0 0 - 18081 - 0 0 - - 0
3 app 2 s2 127.0.0.1 2 8 0 0 1 1 0 2 0 0 0 0 - 18082 - 0 0 - - 0`

func TestSplitAnswers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want []string
		err  bool
	}{
		{in: "\n", n: 1, want: []string{""}},
		{in: "No such server.\n\n", n: 1, want: []string{"No such server."}},
		// Real output of "set server app/s1 weight 2;set server app/nope
		// weight 1;get weight app/s1".
		{in: "\nNo such server.\n\n2 (initial 1)\n\n", n: 3, want: []string{"", "No such server.", "2 (initial 1)"}},
		{in: stateAnswer + "\n\n", n: 1, want: []string{stateAnswer}},
		{in: "", n: 1, err: true},
		{in: "\n", n: 2, err: true},
		{in: "half an answer", n: 1, err: true},
		{in: "\n\nextra", n: 1, err: true},
	} {
		got, err := splitAnswers(tc.in, tc.n)
		if (err != nil) != tc.err {
			t.Errorf("splitAnswers(%q, %d): error %v, want error %v", tc.in, tc.n, err, tc.err)
			continue
		}
		if err != nil && !errors.Is(err, ErrProtocol) {
			t.Errorf("splitAnswers(%q, %d): %v does not wrap ErrProtocol", tc.in, tc.n, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("splitAnswers(%q, %d) (-want +got):\n%s", tc.in, tc.n, diff)
		}
	}
}

func TestParseState(t *testing.T) {
	got, err := parseState("app", stateAnswer)
	if err != nil {
		t.Fatal(err)
	}
	want := []server{{Name: "s1", Weight: 1, Op: 2}, {Name: "s2", Weight: 0, Op: 2, Admin: 8}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseState (-want +got):\n%s", diff)
	}
	if got[1].serving() {
		t.Errorf("a draining server (admin state 8) counts as serving")
	}

	var re *RefusedError
	if _, err := parseState("nope", "Can't find backend."); !errors.As(err, &re) || re.Backend != "nope" || re.Message != "Can't find backend." {
		t.Errorf("parseState of a refusal: %v, want a *RefusedError for backend nope", err)
	}
	for _, bad := range []string{
		"2\n# be_name srv_name",
		"1\nno header",
		"1\n# be_id be_name srv_id srv_name",
		strings.Replace(stateAnswer, " 2 0 1 1 1 1 0", " 2 0 257 1 1 1 0", 1),
		strings.Replace(stateAnswer, " 2 0 1 1 1 1 0", " 9 0 1 1 1 1 0", 1),
		strings.Replace(stateAnswer, "3 app 2 s2", "3 other 2 s2", 1),
		strings.Replace(stateAnswer, "3 app 2 s2", "3 app 2 s1", 1),
		strings.Replace(stateAnswer, " - 18082 - 0 0 - - 0", "", 1),
	} {
		if _, err := parseState("app", bad); !errors.Is(err, ErrProtocol) {
			t.Errorf("parseState(%q): %v, want ErrProtocol", bad, err)
		}
	}
}

// FuzzParseState checks that whatever the socket answers, parsing returns
// servers with weights HAProxy allows, or an error, and never panics.
func FuzzParseState(f *testing.F) {
	f.Add(stateAnswer)
	f.Add("Can't find backend.")
	f.Add("1\n# be_name srv_name srv_uweight srv_op_state srv_admin_state\napp s 256 1 255")
	f.Add("")
	f.Fuzz(func(t *testing.T, answer string) {
		servers, err := parseState("app", answer)
		if err != nil {
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrRefused) {
				t.Fatalf("error %v wraps neither ErrProtocol nor ErrRefused", err)
			}
			return
		}
		seen := make(map[string]bool)
		for _, s := range servers {
			if s.Weight < 0 || s.Weight > MaxWeight || s.effective() > s.Weight || seen[s.Name] {
				t.Fatalf("parsed %+v from %q", s, answer)
			}
			seen[s.Name] = true
		}
	})
}

// FuzzSplitAnswers checks that n answers are returned, or an error.
func FuzzSplitAnswers(f *testing.F) {
	f.Add("\nNo such server.\n\n2 (initial 1)\n\n", 3)
	f.Add("", 1)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 1 || n > 100 {
			return
		}
		got, err := splitAnswers(s, n)
		if err == nil && len(got) != n {
			t.Fatalf("splitAnswers(%q, %d) = %d answers", s, n, len(got))
		}
	})
}
