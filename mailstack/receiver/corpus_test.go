package receiver

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// TestSpamAssassinThroughReceiver sends every message of the SpamAssassin
// public corpus (SCOP_SPAM_CORPUS, see mailstack/mime/scripts/
// fetch-corpus.sh) through SMTP into a receiver with every check on: real
// mail, old and broken, must each get a well-formed answer, and every
// accepted one must be in the spool.
func TestSpamAssassinThroughReceiver(t *testing.T) {
	dir := os.Getenv("SCOP_SPAM_CORPUS")
	if dir == "" {
		t.Skip("SCOP_SPAM_CORPUS not set")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.txt"))
	if len(files) == 0 {
		t.Fatalf("no corpus in %s", dir)
	}
	resolver, _ := chainWorld(t)
	r := chainReceiver(t, resolver, nil)
	addr := r.Addr().String()
	var accepted, refused atomic.Int64
	codes := sync.Map{}
	next := atomic.Int64{}
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(files)) {
					return
				}
				raw, err := os.ReadFile(files[i])
				if err != nil {
					t.Error(err)
					return
				}
				if bytes.HasPrefix(raw, []byte("From ")) {
					if j := bytes.IndexByte(raw, '\n'); j >= 0 {
						raw = raw[j+1:]
					}
				}
				err = sendPlain(addr, "s@sender.test", "alice@example.org", string(raw))
				var se *smtp.SMTPError
				switch {
				case err == nil:
					accepted.Add(1)
				case errors.As(err, &se) && se.Code >= 400:
					refused.Add(1)
					n, _ := codes.LoadOrStore(se.Code, new(atomic.Int64))
					n.(*atomic.Int64).Add(1)
				default:
					t.Errorf("%s: %v", files[i], err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	items, err := r.Spool.List()
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(items)) != accepted.Load() {
		t.Errorf("%d accepted but %d in the spool", accepted.Load(), len(items))
	}
	var cs []string
	codes.Range(func(k, v any) bool {
		cs = append(cs, itoa(k.(int))+"×"+itoa(int(v.(*atomic.Int64).Load())))
		return true
	})
	t.Logf("%d messages in %v (%.0f msg/s, 8 connections, all checks): %d accepted, %d refused %s",
		len(files), elapsed.Round(time.Millisecond), float64(len(files))/elapsed.Seconds(), accepted.Load(), refused.Load(), strings.Join(cs, " "))
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
