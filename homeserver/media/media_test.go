package media

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
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

func TestThumbnail(t *testing.T) {
	s := newStore(t)
	s.maxSize = 1 << 20
	src := image.NewRGBA(image.Rect(0, 0, 200, 100))
	for x := 0; x < 200; x++ {
		for y := 0; y < 100; y++ {
			src.Set(x, y, color.RGBA{uint8(x), uint8(y), 0, 255})
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, src)
	uri, err := s.Upload(t.Context(), "@a:example.org", "image/png", "", &buf)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(uri, "mxc://example.org/")
	tests := []struct {
		w, h         int
		method       string
		wantW, wantH int
	}{
		{96, 96, "scale", 96, 48},
		{90, 90, "scale", 96, 48}, // sizes snap up to a standard one
		{32, 32, "crop", 32, 32},
		{400, 400, "scale", 200, 100}, // never larger than the original
		{96, 96, "scale", 96, 48},     // from the cache
	}
	for _, tc := range tests {
		ct, n, body, err := s.Thumbnail(t.Context(), "example.org", id, tc.w, tc.h, tc.method)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(body)
		body.Close()
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil || ct != "image/png" || int64(len(data)) != n {
			t.Fatalf("%dx%d %s: %s %d/%d bytes: %v", tc.w, tc.h, tc.method, ct, len(data), n, err)
		}
		if b := img.Bounds(); b.Dx() != tc.wantW || b.Dy() != tc.wantH {
			t.Errorf("%dx%d %s: got %dx%d, want %dx%d", tc.w, tc.h, tc.method, b.Dx(), b.Dy(), tc.wantW, tc.wantH)
		}
	}
}

// FuzzThumbnail: any bytes uploaded as an image give a thumbnail or the
// original, never a panic.
func FuzzThumbnail(f *testing.F) {
	s := newStore(f)
	s.maxSize = 1 << 20
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 300, 7)))
	f.Add(buf.Bytes(), "image/png", 16, 16, "crop")
	f.Add([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), "image/gif", 1, 1, "scale")
	f.Add([]byte("\xff\xd8\xff"), "image/jpeg", 32, 32, "scale")
	f.Fuzz(func(t *testing.T, data []byte, ct string, w, h int, method string) {
		uri, err := s.Upload(t.Context(), "@a:example.org", ct, "", bytes.NewReader(data))
		if err != nil {
			return
		}
		_, _, body, err := s.Thumbnail(t.Context(), "example.org", strings.TrimPrefix(uri, "mxc://example.org/"), w, h, method)
		if err == nil {
			body.Close()
		}
	})
}
