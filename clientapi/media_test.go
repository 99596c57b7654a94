package clientapi_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"scop/clientapi/clientapitest"
	"scop/homeserver/media"
)

func TestMedia(t *testing.T) {
	s := clientapitest.NewServer(t, clientapitest.Options{Setup: func(s *clientapitest.Server) error {
		st, err := media.New(t.Context(), s.DB, t.TempDir(), "test", 64<<10)
		if err != nil {
			return err
		}
		s.API.RegisterMedia(st)
		return nil
	}})
	u := s.AddUser(t, "alice", "pw")
	upload := func(body []byte, contentType, query, token string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest("POST", s.URL+"/_matrix/media/v3/upload"+query, bytes.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		data, _ := io.ReadAll(resp.Body)
		jsonDecode(data, &out)
		return resp, out
	}
	png := []byte("\x89PNG\r\n\x1a\nnot really a png")
	resp, out := upload(png, "image/png", "?filename=cat.png", u.Token)
	uri, _ := out["content_uri"].(string)
	if resp.StatusCode != 200 || !strings.HasPrefix(uri, "mxc://test/") {
		t.Fatalf("upload: %d %v", resp.StatusCode, out)
	}
	id := strings.TrimPrefix(uri, "mxc://test/")

	get := func(path, token string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp, data
	}
	for _, path := range []string{"/_matrix/media/v3/download/test/" + id, "/_matrix/media/r0/download/test/" + id + "/other.png",
		"/_matrix/media/v3/thumbnail/test/" + id + "?width=32&height=32"} {
		resp, data := get(path, "")
		if resp.StatusCode != 200 || !bytes.Equal(data, png) || resp.Header.Get("Content-Type") != "image/png" ||
			!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "inline") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("GET %s: %d %q %v", path, resp.StatusCode, data, resp.Header)
		}
	}
	if resp, _ := get("/_matrix/client/v1/media/download/test/"+id, u.Token); resp.StatusCode != 200 {
		t.Fatalf("authenticated download: %d", resp.StatusCode)
	}
	if resp, _ := get("/_matrix/client/v1/media/download/test/"+id, ""); resp.StatusCode != 401 {
		t.Fatalf("authenticated download without token: %d", resp.StatusCode)
	}
	// HTML is served as an attachment, never inline.
	_, out = upload([]byte("<script>alert(1)</script>"), "text/html", "", u.Token)
	hid := strings.TrimPrefix(out["content_uri"].(string), "mxc://test/")
	if resp, _ := get("/_matrix/media/v3/download/test/"+hid, ""); !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("HTML download headers: %v", resp.Header)
	}
	var cfg map[string]any
	if st := s.Do(t, "GET", "/_matrix/media/v3/config", u.Token, nil, &cfg); st != 200 || cfg["m.upload.size"] != float64(64<<10) {
		t.Fatalf("config: %d %v", st, cfg)
	}

	for _, tc := range []struct {
		name        string
		body        []byte
		contentType string
		query       string
		token       string
		status      int
		code        string
	}{
		{"too large", bytes.Repeat([]byte("x"), 65<<10), "image/png", "", u.Token, 413, "M_TOO_LARGE"},
		{"no token", png, "image/png", "", "", 401, "M_MISSING_TOKEN"},
		{"bad content type", png, "not a type", "", u.Token, 400, "M_INVALID_PARAM"},
		{"slash in filename", png, "image/png", "?filename=a/b", u.Token, 400, "M_INVALID_PARAM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, out := upload(tc.body, tc.contentType, tc.query, tc.token)
			if resp.StatusCode != tc.status || out["errcode"] != tc.code {
				t.Fatalf("got %d %v, want %d %s", resp.StatusCode, out, tc.status, tc.code)
			}
		})
	}
	for _, tc := range []struct {
		name, path string
		status     int
	}{
		{"unknown media", "/_matrix/media/v3/download/test/nope", 404},
		{"remote media", "/_matrix/media/v3/download/elsewhere/" + id, 404},
		{"bad media ID", "/_matrix/media/v3/download/test/..%2F..%2Fetc", 404},
		{"thumbnail of non-image", "/_matrix/media/v3/thumbnail/test/" + hid + "?width=8&height=8", 404},
		{"thumbnail without size", "/_matrix/media/v3/thumbnail/test/" + id, 400},
		{"bad thumbnail method", "/_matrix/media/v3/thumbnail/test/" + id + "?width=8&height=8&method=zoom", 400},
		{"bad thumbnail size", "/_matrix/media/v3/thumbnail/test/" + id + "?width=-1", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, data := get(tc.path, ""); resp.StatusCode != tc.status || !bytes.Contains(data, []byte("errcode")) {
				t.Fatalf("got %d %s", resp.StatusCode, data)
			}
		})
	}
}
