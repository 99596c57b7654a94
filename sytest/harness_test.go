package sytest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	flagURL       = flag.String("sytest.url", "", "base URL of the homeserver under test (default $SYTEST_URL, else build and start scop)")
	flagServerLog = flag.Bool("sytest.serverlog", false, "stream the started scop's stderr to our stderr")
	flagWriteExp  = flag.Bool("sytest.write-expected", false, "rewrite expected-failures.txt from this run's failures (only when scop was started by the suite)")
)

// expectedFile lists the tests known to fail against scop, with reasons.
const expectedFile = "expected-failures.txt"

// baseURL is the homeserver under test, without trailing slash.
var baseURL string

// applyExpected is true when the suite started scop itself: only then do
// known failures count as expected.
var applyExpected bool

// expected maps full test names to the reason they are known to fail.
var expected = map[string]string{}

func TestMain(m *testing.M) {
	flag.Parse()
	setDefaultParallel()
	url := *flagURL
	if url == "" {
		url = os.Getenv("SYTEST_URL")
	}
	var srv *server
	var tmp string
	if url == "" {
		var err error
		tmp, err = os.MkdirTemp("", "sytest-")
		if err != nil {
			fmt.Fprintf(os.Stderr, "sytest: temp dir: %v\n", err)
			os.Exit(1)
		}
		fail := func(err error) {
			fmt.Fprintf(os.Stderr, "sytest: starting scop: %v\n", err)
			_ = os.WriteFile(summaryFile, []byte(fmt.Sprintf("sytest: no run: starting scop: %v\n", err)), 0o644)
			srv.dumpLog(os.Stderr)
			os.RemoveAll(tmp)
			os.Exit(1)
		}
		if scopBin, err = buildScop(tmp); err != nil {
			fail(err)
		}
		if srv, err = launch(scopBin, filepath.Join(tmp, "data")); err != nil {
			fail(err)
		}
		url = srv.url
		applyExpected = true
		if expected, err = readExpected(expectedFile); err != nil {
			srv.kill()
			fail(err)
		}
	}
	baseURL = strings.TrimRight(url, "/")
	code := m.Run()
	var sum bytes.Buffer
	printSummary(&sum)
	os.Stdout.Write(sum.Bytes())
	if err := os.WriteFile(summaryFile, sum.Bytes(), 0o644); err == nil {
		stampAhead()
	}
	if srv != nil {
		if code != 0 {
			srv.dumpLog(os.Stderr)
		}
		if err := srv.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "sytest: %v\n", err)
			code = 1
		}
		os.RemoveAll(tmp)
		if *flagWriteExp {
			if err := writeExpected(expectedFile); err != nil {
				fmt.Fprintf(os.Stderr, "sytest: %v\n", err)
				code = 1
			}
		}
	}
	os.Exit(code)
}

// summaryFile receives the last run's summary (go test hides a passing
// package's output unless -v).
const summaryFile = "last-summary.txt"

// defeatTestCache keeps go test from caching this package's result: the
// server under test (scop's sources, or a running server) is an input go
// cannot see. go test refuses to cache a run that opened a file inside the
// module whose mtime is under two seconds old, so during the run the suite
// opens the (git-ignored) summary file, stamped an hour ahead.
var defeatTestCache = sync.OnceFunc(func() {
	if f, err := os.OpenFile(summaryFile, os.O_RDWR|os.O_CREATE, 0o644); err == nil {
		f.Close()
	}
	stampAhead()
})

func stampAhead() {
	ahead := time.Now().Add(time.Hour)
	_ = os.Chtimes(summaryFile, ahead, ahead)
}

// setDefaultParallel raises -test.parallel (default GOMAXPROCS) unless it
// was given: most of the suite's time is spent waiting on the server, and
// long-polling syncs would otherwise hold the few slots.
func setDefaultParallel() {
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "test.parallel" {
			set = true
		}
	})
	if !set {
		_ = flag.Set("test.parallel", "8")
	}
}

// readExpected reads expected-failures.txt; a missing file is an empty list.
func readExpected(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	m, err := parseExpected(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s:%w", path, err)
	}
	return m, nil
}

// parseExpected parses "TestArea/Name reason" lines; blank lines and
// # comments are skipped.
func parseExpected(text string) (map[string]string, error) {
	m := map[string]string{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, _ := strings.Cut(line, " ")
		if !strings.HasPrefix(name, "Test") || !strings.Contains(name, "/") {
			return nil, fmt.Errorf("%d: want \"TestArea/Name reason\", got %q", i+1, line)
		}
		m[name] = strings.TrimSpace(reason)
	}
	return m, nil
}

// writeExpected rewrites the list from this run: tests that failed are
// listed (keeping old reasons), tests that passed are dropped, and entries
// of tests that did not run (-run) are kept.
func writeExpected(path string) error {
	list := map[string]string{}
	for k, v := range expected {
		list[k] = v
	}
	results.mu.Lock()
	for _, r := range results.list {
		switch r.outcome {
		case outcomePass, outcomeXPass:
			delete(list, r.name)
		case outcomeFail, outcomeXFail:
			if list[r.name] == "" {
				reason := autoReason(r.reason)
				if len(reason) > 200 {
					reason = reason[:200] + "..."
				}
				list[r.name] = reason
			}
		}
	}
	results.mu.Unlock()
	names := make([]string, 0, len(list))
	for k := range list {
		names = append(names, k)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	buf.WriteString("# Tests known to fail against scop (regenerate: go test ./sytest/ -sytest.write-expected).\n")
	buf.WriteString("# Format: TestArea/Name reason. Applied only when the suite starts scop itself.\n")
	for _, n := range names {
		buf.WriteString(n + " " + list[n] + "\n")
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// autoReason shortens a failure message into a list reason: the file:line
// prefix goes, and an unserved endpoint is named as such.
func autoReason(msg string) string {
	if _, rest, ok := strings.Cut(msg, ".go:"); ok {
		if _, after, ok := strings.Cut(rest, ": "); ok {
			msg = after
		}
	}
	if strings.Contains(msg, `"M_UNRECOGNIZED"`) {
		if i := strings.Index(msg, " → "); i > 0 {
			req := msg[:i]
			if j := strings.Index(req, ": "); j >= 0 {
				req = req[j+2:]
			}
			return genericPath(req) + " not served (M_UNRECOGNIZED)"
		}
	}
	return msg
}

// genericPath replaces the IDs in "METHOD /path" with {id}, so a reason
// does not name one run's rooms and users.
func genericPath(req string) string {
	method, path, _ := strings.Cut(req, " ")
	path, _, _ = strings.Cut(path, "?")
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if u, err := url.PathUnescape(seg); err == nil {
			seg = u
		}
		if seg != "" && strings.ContainsAny(seg[:1], "!$@#") {
			segs[i] = "{id}"
		}
	}
	return method + " " + strings.Join(segs, "/")
}

type outcome int

const (
	outcomePass outcome = iota
	outcomeFail
	outcomeXFail // listed and failed
	outcomeXPass // listed and passed: the list is stale
)

type result struct {
	area, name string
	outcome    outcome
	reason     string // first failure message
}

// results is the recorder every test reports to.
var results struct {
	mu   sync.Mutex
	list []result
}

func record(r result) {
	results.mu.Lock()
	defer results.mu.Unlock()
	results.list = append(results.list, r)
}

// printSummary prints per-area pass counts and a total.
func printSummary(w io.Writer) {
	results.mu.Lock()
	defer results.mu.Unlock()
	type counts struct{ total, pass, xfail, xpass, fail int }
	per := map[string]*counts{}
	var areas []string
	var all counts
	for _, r := range results.list {
		c := per[r.area]
		if c == nil {
			c = &counts{}
			per[r.area] = c
			areas = append(areas, r.area)
		}
		for _, cc := range []*counts{c, &all} {
			cc.total++
			switch r.outcome {
			case outcomePass:
				cc.pass++
			case outcomeFail:
				cc.fail++
			case outcomeXFail:
				cc.xfail++
			case outcomeXPass:
				cc.xpass++
			}
		}
	}
	sort.Strings(areas)
	line := func(name string, c *counts) {
		extra := ""
		if c.xfail > 0 {
			extra += fmt.Sprintf(", %d expected failures", c.xfail)
		}
		if c.xpass > 0 {
			extra += fmt.Sprintf(", %d unexpectedly passed", c.xpass)
		}
		if c.fail > 0 {
			extra += fmt.Sprintf(", %d FAILED", c.fail)
		}
		fmt.Fprintf(w, "sytest: %-17s %3d/%-3d passed%s\n", name, c.pass+c.xpass, c.total, extra)
	}
	for _, a := range areas {
		line(a, per[a])
	}
	line("TOTAL", &all)
	if all.fail > 0 || all.xpass > 0 {
		for _, r := range results.list {
			switch r.outcome {
			case outcomeFail:
				fmt.Fprintf(w, "sytest: FAIL %s: %s\n", r.name, r.reason)
			case outcomeXPass:
				fmt.Fprintf(w, "sytest: UNEXPECTED PASS %s (remove it from %s)\n", r.name, expectedFile)
			}
		}
	}
}

// T is what a suite test gets instead of *testing.T: failures are
// collected rather than reported at once, so that a test listed in
// expected-failures.txt can be turned into a skip.
type T struct {
	tt      testing.TB
	mu      sync.Mutex
	errs    []string
	failed  bool
	skipped string // reason, when the test does not apply
	base    string // server URL when not the suite's server
}

// baseURL is the server this test talks to.
func (c *T) baseURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.base != "" {
		return c.base
	}
	return baseURL
}

// setBase points the test's clients at another server.
func (c *T) setBase(url string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base = url
}

// Skipf ends a test that does not apply here; it is not counted.
func (c *T) Skipf(format string, args ...any) {
	c.mu.Lock()
	c.skipped = fmt.Sprintf(format, args...)
	c.mu.Unlock()
	runtime.Goexit()
}

// Cleanup runs f when the test ends.
func (c *T) Cleanup(f func()) { c.tt.Cleanup(f) }

// TempDir is a fresh directory removed when the test ends.
func (c *T) TempDir() string { return c.tt.TempDir() }

func (c *T) fail(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed = true
	c.errs = append(c.errs, callerLoc()+msg)
}

// callerLoc is the innermost file:line of a test file that is not harness.
func callerLoc() string {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		base := filepath.Base(f.File)
		if strings.HasSuffix(base, "_test.go") && base != "harness_test.go" && base != "client_test.go" && base != "server_test.go" {
			return fmt.Sprintf("%s:%d: ", base, f.Line)
		}
		if !more {
			return ""
		}
	}
}

// Errorf records a failure and continues.
func (c *T) Errorf(format string, args ...any) { c.fail(fmt.Sprintf(format, args...)) }

// Fatalf records a failure and ends the calling goroutine: the test body,
// or a helper goroutine the body started (whose deferred calls still run).
func (c *T) Fatalf(format string, args ...any) {
	c.fail(fmt.Sprintf(format, args...))
	runtime.Goexit()
}

// Logf logs to the test's output.
func (c *T) Logf(format string, args ...any) {
	c.tt.Helper()
	c.tt.Logf(format, args...)
}

// Context is cancelled when the test ends.
func (c *T) Context() context.Context { return c.tt.Context() }

// Failed reports whether a failure was recorded.
func (c *T) Failed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed
}

// run runs one spec behaviour as a parallel subtest of the area's test
// function and records its outcome.
func run(t *testing.T, name string, fn func(c *T)) {
	t.Helper()
	defeatTestCache()
	// TestSync and TestSync_Gaps both count towards area "Sync".
	area := strings.TrimPrefix(strings.SplitN(t.Name(), "/", 2)[0], "Test")
	area, _, _ = strings.Cut(area, "_")
	t.Run(name, func(tt *testing.T) {
		tt.Parallel()
		c := &T{tt: tt}
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer func() {
				if r := recover(); r != nil {
					c.fail(fmt.Sprintf("panic: %v\n%s", r, debug.Stack()))
				}
			}()
			fn(c)
		}()
		<-done
		// Snapshot: a helper goroutine may still report late.
		c.mu.Lock()
		failed, skipped, errs := c.failed, c.skipped, append([]string(nil), c.errs...)
		c.mu.Unlock()
		full := tt.Name()
		if skipped != "" && !failed {
			tt.Skip(skipped)
		}
		reason, listed := expected[full]
		first := ""
		if len(errs) > 0 {
			first = strings.SplitN(errs[0], "\n", 2)[0]
		}
		switch {
		case failed && listed:
			record(result{area, full, outcomeXFail, first})
			tt.Skipf("expected failure (%s); got:\n%s", reason, strings.Join(errs, "\n"))
		case failed:
			record(result{area, full, outcomeFail, first})
			tt.Fatalf("\n%s", strings.Join(errs, "\n"))
		case listed:
			record(result{area, full, outcomeXPass, ""})
			tt.Fatalf("unexpectedly passed: remove %s from %s", full, expectedFile)
		default:
			record(result{area, full, outcomePass, ""})
		}
	})
}
