package media

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"scop/homeserver/storage/sqlite"
)

func newStore(t testing.TB) *Store {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "hs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := New(t.Context(), db, t.TempDir(), "example.org", 1024)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestUploadOpen(t *testing.T) {
	s := newStore(t)
	uri, err := s.Upload(t.Context(), "@a:example.org", "", "f.bin", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(uri, "mxc://example.org/")
	it, f, err := s.Open(t.Context(), "example.org", id)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, _ := io.ReadAll(f)
	if string(data) != "hello" || it.ContentType != "application/octet-stream" || it.Size != 5 || it.Filename != "f.bin" || it.UserID != "@a:example.org" {
		t.Fatalf("item %+v, data %q", it, data)
	}
	if _, err := s.Upload(t.Context(), "@a:example.org", "text/plain", "", bytes.NewReader(make([]byte, 1025))); err == nil {
		t.Fatal("oversized upload accepted")
	}
}

// FuzzOpen: no media ID opens anything but an upload of this store.
func FuzzOpen(f *testing.F) {
	s := newStore(f)
	uri, _ := s.Upload(f.Context(), "@a:example.org", "text/plain", "", strings.NewReader("x"))
	f.Add("example.org", strings.TrimPrefix(uri, "mxc://example.org/"))
	f.Add("example.org", "../../etc/passwd")
	f.Add("example.org", "")
	f.Add("example.org", "a")
	f.Add("other", "AAAA")
	f.Fuzz(func(t *testing.T, server, id string) {
		it, file, err := s.Open(t.Context(), server, id)
		if err != nil {
			return
		}
		defer file.Close()
		if it.MediaID != id || !strings.HasPrefix(file.Name(), s.dir) {
			t.Fatalf("opened %s for %q", file.Name(), id)
		}
	})
}
