package spam

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// Synthetic corpus: ham talks about builds and meetings, spam about money
// and pills, with shared filler words so the classes overlap.
var (
	hamWords  = strings.Fields("build release patch kernel meeting review branch merge compile test debian package commit bug report thanks regards tomorrow agenda notes")
	spamWords = strings.Fields("free money viagra pills winner prize casino offer cheap loan credit mortgage click unsubscribe guaranteed cash bonus limited urgent")
	fillWords = strings.Fields("the a and of to in is you that it for on with as this your have be at")
)

func genMessage(r *rand.Rand, isSpam bool, i int) []byte {
	words := hamWords
	from := "dev@lists.example.org"
	if isSpam {
		words = spamWords
		from = "promo@deals.example.biz"
	}
	var body strings.Builder
	for j := 0; j < 60; j++ {
		if r.IntN(3) == 0 {
			body.WriteString(words[r.IntN(len(words))])
		} else {
			body.WriteString(fillWords[r.IntN(len(fillWords))])
		}
		body.WriteByte(' ')
	}
	return []byte(fmt.Sprintf("From: %s\r\nTo: you@example.net\r\nSubject: %s %d\r\n\r\n%s\r\n",
		from, words[r.IntN(len(words))], i, body.String()))
}

func openDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "spam.db")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func trainedFilter(t testing.TB, store Store) *Filter {
	t.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	d := NewDelta()
	for i := 0; i < 200; i++ {
		f, _ := Tokenize(genMessage(r, i%2 == 1, i))
		d.Add(f, i%2 == 1, 1)
	}
	if err := store.Apply(ctx, d); err != nil {
		t.Fatal(err)
	}
	f, err := New(ctx, store, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestClassify(t *testing.T) {
	f := trainedFilter(t, NewMemStore())
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 50; i++ {
		isSpam := i%2 == 1
		got := f.Classify(genMessage(r, isSpam, 1000+i))
		want := Ham
		if isSpam {
			want = Spam
		}
		if got.Verdict != want {
			t.Errorf("message %d (spam %v): %+v, want %s", i, isSpam, got, want)
		}
	}
	if got := f.Classify([]byte("Subject: zzz qqq\r\n\r\nxyzzy plugh\r\n")); got.Verdict != Unsure {
		t.Errorf("unknown words: %+v, want unsure", got)
	}
}

func TestUntrainedIsUnsure(t *testing.T) {
	f, err := New(context.Background(), NewMemStore(), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Classify([]byte("Subject: hi\r\n\r\nfree money\r\n")); got.Verdict != Unsure || got.Score != 0.5 {
		t.Errorf("untrained Classify = %+v, want unsure 0.5", got)
	}
}

func TestLearnPersistsAndUnlearn(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	store, err := NewSQLiteStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	f := trainedFilter(t, store)
	msg := []byte("From: friend@example.com\r\nSubject: quarterly zebra report\r\n\r\nzebra giraffe okapi zebra\r\n")
	before := f.Classify(msg)
	for i := 0; i < 20; i++ {
		if err := f.Learn(ctx, msg, true); err != nil {
			t.Fatal(err)
		}
	}
	learnt := f.Classify(msg)
	if learnt.Score <= before.Score || learnt.Verdict != Spam {
		t.Errorf("after Learn spam: %+v (before %+v)", learnt, before)
	}
	// A second store over the same database sees the lesson: it was committed.
	store2, err := NewSQLiteStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	f2, err := New(ctx, store2, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got := f2.Classify(msg); got.Score != learnt.Score {
		t.Errorf("reloaded score %v, want %v", got.Score, learnt.Score)
	}
	h, s := f2.Trained()
	if h != 100 || s != 120 {
		t.Errorf("Trained() = %d, %d; want 100, 120", h, s)
	}
	for i := 0; i < 20; i++ {
		if err := f.Unlearn(ctx, msg, true); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.Classify(msg); math.Abs(got.Score-before.Score) > 1e-9 {
		t.Errorf("after Unlearn score %v, want %v", got.Score, before.Score)
	}
	// Unlearning more than was learnt never goes below zero.
	if err := f.Unlearn(ctx, msg, true); err != nil {
		t.Fatal(err)
	}
	var neg int
	if err := db.QueryRow(`SELECT COUNT(*) FROM spam_features WHERE ham < 0 OR spam < 0`).Scan(&neg); err != nil || neg != 0 {
		t.Errorf("negative counts: %d, %v", neg, err)
	}
}

func TestDangerousAttachments(t *testing.T) {
	f := trainedFilter(t, NewMemStore())
	mk := func(name, ctype string) []byte {
		return []byte("From: a@example.org\r\nSubject: invoice\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/mixed; boundary=BB\r\n\r\n" +
			"--BB\r\nContent-Type: text/plain\r\n\r\nbuild release meeting thanks regards\r\n" +
			"--BB\r\nContent-Type: " + ctype + "\r\nContent-Disposition: attachment; filename=\"" + name + "\"\r\n" +
			"Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--BB--\r\n")
	}
	tests := []struct {
		name, file, ctype string
		dangerous         bool
	}{
		{"exe", "setup.exe", "application/octet-stream", true},
		{"double extension", "invoice.pdf.exe", "application/octet-stream", true},
		{"scr uppercase", "PHOTO.SCR", "application/octet-stream", true},
		{"macro document", "report.docm", "application/octet-stream", true},
		{"javascript", "payment.js", "text/plain", true},
		{"msdownload type", "readme", "application/x-msdownload", true},
		{"pdf", "invoice.pdf", "application/pdf", false},
		{"docx", "report.docx", "application/octet-stream", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := f.Classify(mk(tt.file, tt.ctype))
			if (len(got.Dangerous) > 0) != tt.dangerous {
				t.Fatalf("Dangerous = %v, want dangerous %v", got.Dangerous, tt.dangerous)
			}
			if tt.dangerous && got.Verdict != Spam {
				t.Errorf("verdict %s score %v, want spam", got.Verdict, got.Score)
			}
			if !tt.dangerous && got.Verdict != Ham {
				t.Errorf("verdict %s score %v, want ham", got.Verdict, got.Score)
			}
		})
	}
}

// has reports whether feats holds the token, from the header or the body
// (markHeader sets the lowest bit of header features).
func has(feats []uint64, prefix, tok string) bool {
	h := hashString(prefix, tok)
	_, inHeader := slices.BinarySearch(feats, h|1)
	_, inBody := slices.BinarySearch(feats, h&^1)
	return inHeader || inBody
}

// TestHeaderFeaturesMarked checks that header features, and only they,
// carry the header bit, so that HeaderMinDev applies to them alone.
func TestHeaderFeaturesMarked(t *testing.T) {
	feats, _ := Tokenize([]byte("Subject: lottery\r\n\r\nlottery\r\n"))
	h := hashString("s", "lottery")
	if _, ok := slices.BinarySearch(feats, h|1); !ok {
		t.Error("subject word not marked as a header feature")
	}
	b := hashString("b", "lottery")
	if _, ok := slices.BinarySearch(feats, b&^1); !ok {
		t.Error("body word missing or marked as a header feature")
	}
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		name    string
		msg     string
		want    [][2]string
		notWant [][2]string
	}{
		{"encoded subject and latin1 body",
			"Subject: =?ISO-8859-1?Q?caf=E9_cr=E8me?=\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nd=E9j=E0 vu\r\n",
			[][2]string{{"s", "café"}, {"s", "crème"}, {"b", "déjà"}, {"hdr", "subject"}}, nil},
		{"html stripped, urls kept",
			"Content-Type: text/html\r\n\r\n<html><body><p>Click <a href=\"http://win.Prize.example.com/claim/now\">HERE</a></p><script>var hidden=1</script></body></html>",
			[][2]string{{"b", "click"}, {"b", "here"}, {"b!", "HERE"}, {"url", "win.prize.example.com"}, {"url", "example.com"}, {"urlp", "claim"}, {"tag", "a"}},
			[][2]string{{"b", "href"}, {"b", "hidden"}, {"b", "var"}}},
		{"broken multipart keeps earlier text",
			"Content-Type: multipart/alternative; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nfirstpart words\r\n--XX\r\nContent-Type: text/plain\r\n\r\nsecondpart\r\n",
			[][2]string{{"b", "firstpart"}, {"b", "secondpart"}}, nil},
		{"mbox envelope line dropped",
			"From someone@example.org Mon Aug  5 10:00:00 2002\r\nSubject: hello there\r\n\r\nbody\r\n",
			[][2]string{{"s", "hello"}, {"b", "body"}}, nil},
		{"headerless garbage",
			"\x00\x01 not a header\r\nfree stuff",
			[][2]string{{"x", "unparsable"}, {"b", "free"}}, nil},
		{"text urls and prices",
			"Subject: x\r\n\r\nVisit www.cheap-stuff.example.net/buy today for $19.99!\r\n",
			[][2]string{{"url", "www.cheap-stuff.example.net"}, {"b", "$19.99"}, {"urlp", "buy"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			feats, _ := Tokenize([]byte(tt.msg))
			if !slices.IsSorted(feats) {
				t.Fatal("features not sorted")
			}
			for _, w := range tt.want {
				if !has(feats, w[0], w[1]) {
					t.Errorf("missing feature %s:%q", w[0], w[1])
				}
			}
			for _, w := range tt.notWant {
				if has(feats, w[0], w[1]) {
					t.Errorf("unexpected feature %s:%q", w[0], w[1])
				}
			}
		})
	}
}

func TestOSBPairs(t *testing.T) {
	a, _ := Tokenize([]byte("Subject: x\r\n\r\nalpha beta gamma\r\n"))
	b, _ := Tokenize([]byte("Subject: x\r\n\r\ngamma beta alpha\r\n"))
	// Same words, different order: unigrams equal, pairs differ.
	if slices.Equal(a, b) {
		t.Error("word order does not change features: no OSB pairs")
	}
	// 3 words: 3 unigrams + 3 pairs (1 + 2) in the body.
	c, _ := Tokenize([]byte("\r\nalpha beta gamma"))
	d, _ := Tokenize([]byte("\r\n"))
	if got := len(c) - len(d); got != 6 {
		t.Errorf("body of 3 words gave %d features, want 6", got)
	}
}

func TestChi2Q(t *testing.T) {
	tests := []struct {
		x    float64
		v    int
		want float64
	}{
		{0, 2, 1},
		{2, 2, math.Exp(-1)},
		{4, 4, 3 * math.Exp(-2)},
		{1e5, 2, 0},
		{10, 1000, 1},
	}
	for _, tt := range tests {
		if got := chi2Q(tt.x, tt.v); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("chi2Q(%v, %d) = %v, want %v", tt.x, tt.v, got, tt.want)
		}
	}
}

func TestTrainPaths(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(5, 6))
	write := func(p string, b []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// ham: a maildir (cur, new; tmp is skipped) and a folder of .eml files
	for i := 0; i < 10; i++ {
		write(filepath.Join(dir, "Maildir", "cur", fmt.Sprintf("%d.host:2,S", i)), genMessage(r, false, i))
		write(filepath.Join(dir, "eml", fmt.Sprintf("m%d.eml", i)), genMessage(r, false, i))
	}
	write(filepath.Join(dir, "Maildir", "new", "x.host"), genMessage(r, false, 99))
	write(filepath.Join(dir, "Maildir", "tmp", "partial"), []byte("half a mess"))
	write(filepath.Join(dir, "eml", ".hidden"), []byte("ignored"))
	write(filepath.Join(dir, "eml", "m0.json"), []byte("{}"))
	// spam: one mbox with 12 messages, one of them with a quoted >From line
	var mbox strings.Builder
	for i := 0; i < 12; i++ {
		fmt.Fprintf(&mbox, "From spammer@example.biz Mon Aug  5 10:00:%02d 2002\n", i)
		m := strings.ReplaceAll(string(genMessage(r, true, i)), "\r\n", "\n")
		if i == 3 {
			m += ">From the desk of the director\n"
		}
		mbox.WriteString(m + "\n")
	}
	write(filepath.Join(dir, "spam.mbox"), []byte(mbox.String()))

	ctx := context.Background()
	store, err := NewSQLiteStore(ctx, openDB(t))
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(ctx, store, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var calls, lastDone, lastTotal int
	st, err := TrainPaths(ctx, f, []string{filepath.Join(dir, "Maildir"), filepath.Join(dir, "eml")},
		[]string{filepath.Join(dir, "spam.mbox")}, func(done, total int) { calls++; lastDone, lastTotal = done, total })
	if err != nil {
		t.Fatal(err)
	}
	if st.Ham != 21 || st.Spam != 12 {
		t.Errorf("TrainPaths = %+v, want 21 ham, 12 spam", st)
	}
	if calls != 33 || lastDone != 33 || lastTotal != 33 {
		t.Errorf("progress: %d calls, last %d/%d; want 33 calls, 33/33", calls, lastDone, lastTotal)
	}
	if h, s := f.Trained(); h != 21 || s != 12 {
		t.Errorf("live filter Trained() = %d, %d", h, s)
	}
	if got := f.Classify(genMessage(r, true, 500)); got.Verdict != Spam {
		t.Errorf("after training: %+v, want spam", got)
	}
	if _, err := TrainPaths(ctx, f, []string{filepath.Join(dir, "missing")}, nil, nil); err == nil {
		t.Error("TrainPaths on a missing path succeeded")
	}
}

func BenchmarkSpamScore(b *testing.B) {
	f := trainedFilter(b, NewMemStore())
	msg := genMessage(rand.New(rand.NewPCG(7, 8)), true, 1)
	msg = append(msg, strings.Repeat("Some more ordinary text of a longer mail body, with a link http://example.com/x.\r\n", 50)...)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		f.Classify(msg)
	}
}

// TestConcurrentLearnClassify runs lessons and classifications at once
// (meaningful under -race).
func TestConcurrentLearnClassify(t *testing.T) {
	ctx := context.Background()
	store, err := NewSQLiteStore(ctx, openDB(t))
	if err != nil {
		t.Fatal(err)
	}
	f := trainedFilter(t, store)
	done := make(chan error, 4)
	for w := 0; w < 4; w++ {
		go func() {
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for i := 0; i < 10; i++ {
				msg := genMessage(r, i%2 == 0, i)
				if w%2 == 0 {
					if err := f.Learn(ctx, msg, i%2 == 0); err != nil {
						done <- err
						return
					}
				} else {
					f.Classify(msg)
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if h, s := f.Trained(); h != 110 || s != 110 {
		t.Errorf("Trained() = %d, %d; want 110, 110", h, s)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig invalid: %v", err)
	}
	tests := []struct {
		name   string
		modify func(*Config)
		key    string
	}{
		{"cutoffs crossed", func(c *Config) { c.SpamCutoff = 0.2 }, "spam.spam_cutoff"},
		{"negative ham cutoff", func(c *Config) { c.HamCutoff = -1 }, "spam.ham_cutoff"},
		{"zero s", func(c *Config) { c.S = 0 }, "spam.robinson_s"},
		{"x of 1", func(c *Config) { c.X = 1 }, "spam.robinson_x"},
		{"min dev too big", func(c *Config) { c.MinDev = 0.5 }, "spam.min_dev"},
		{"header min dev too big", func(c *Config) { c.HeaderMinDev = 0.5 }, "spam.header_min_dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.modify(&c)
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tt.key) {
				t.Errorf("Validate() = %v, want an error naming %s", err, tt.key)
			}
			if _, err := New(context.Background(), NewMemStore(), c); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

func TestHashWordMatchesNormWord(t *testing.T) {
	p := hashPrefix("b")
	for _, w := range []string{"Hello", "ÉCOLE", "straße", "İstanbul", "12345678", "123", strings.Repeat("Ab", 20), "$19.99", "ǅemal"} {
		if got, want := hashWord(p, w), hashString("b", normWord(w)); got != want {
			t.Errorf("hashWord(%q) = %x, want hash of %q = %x", w, got, normWord(w), want)
		}
	}
}

func TestReload(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	store, err := NewSQLiteStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	live, err := New(ctx, store, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	// Another process (scop spam train) trains the same database.
	other, err := NewSQLiteStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	trainedFilter(t, other)
	if h, s := live.Trained(); h != 0 || s != 0 {
		t.Fatalf("before Reload: %d, %d", h, s)
	}
	if err := live.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if h, s := live.Trained(); h != 100 || s != 100 {
		t.Errorf("after Reload: %d, %d; want 100, 100", h, s)
	}
}
