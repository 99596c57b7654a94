package mime

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestSpamAssassinCorpus parses every message of the SpamAssassin public
// corpus (6,046 files; scripts/fetch-corpus.sh installs it and prints the
// directory to put in SCOP_SPAM_CORPUS). Each message must parse with
// every multipart yielding its parts, and parse → encode → parse must
// give the same message. Skipped without SCOP_SPAM_CORPUS.
func TestSpamAssassinCorpus(t *testing.T) {
	dir := os.Getenv("SCOP_SPAM_CORPUS")
	if dir == "" {
		t.Skip("SCOP_SPAM_CORPUS not set (run scripts/fetch-corpus.sh)")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files in %s: %v", dir, err)
	}
	defects := map[string]int{}
	parts, unstable := 0, 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p := Parse(raw)
		p.Walk(func(q *Part, _ int) {
			parts++
			if q.IsMultipart() && q.Children == nil && !strings.Contains(strings.Join(q.Defects, ";"), "without") {
				t.Errorf("%s: multipart with no parts and no defect", f)
			}
		})
		for _, d := range p.AllDefects() {
			if i := strings.IndexByte(d, ' '); i > 0 && strings.HasPrefix(d, "unknown transfer") {
				d = "unknown transfer encoding"
			}
			defects[d]++
		}
		if d := Diff(p, Parse(p.Encode())); d != "" {
			unstable++
			t.Errorf("%s: round trip differs: %s", f, d)
		}
	}
	var ds []string
	for d, n := range defects {
		ds = append(ds, d+": "+itoa(n))
	}
	sort.Strings(ds)
	t.Logf("%d messages, %d parts, %d unstable round trips; defects tolerated: %s", len(files), parts, unstable, strings.Join(ds, "; "))
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
