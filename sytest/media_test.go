package sytest

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"testing"
)

// uploadMedia posts data with a content type and returns (server, mediaID).
func uploadMedia(c *T, cl *Client, data []byte, contentType, filename string) (string, string) {
	req, err := http.NewRequestWithContext(c.Context(), "POST",
		c.baseURL()+"/_matrix/media/v3/upload?filename="+filename, bytes.NewReader(data))
	if err != nil {
		c.Fatalf("request: %v", err)
	}
	if cl.Token != "" {
		req.Header.Set("Authorization", "Bearer "+cl.Token)
	}
	req.Header.Set("Content-Type", contentType)
	res, err := httpClient.Do(req)
	if err != nil {
		c.Fatalf("upload: %v", err)
	}
	defer res.Body.Close()
	var j map[string]any
	_ = json.NewDecoder(res.Body).Decode(&j)
	if res.StatusCode >= 500 {
		c.Errorf("upload: %d %v", res.StatusCode, j)
	}
	uri := str(j, "content_uri")
	if res.StatusCode != 200 || !strings.HasPrefix(uri, "mxc://") {
		c.Fatalf("upload %s: %d %v", contentType, res.StatusCode, j)
	}
	sn, id, _ := strings.Cut(strings.TrimPrefix(uri, "mxc://"), "/")
	return sn, id
}

func TestMedia_More(t *testing.T) {
	t.Parallel()
	run(t, "UploadNeedsAuth", func(c *T) {
		r := c.anon().Do("POST", "/_matrix/media/v3/upload", "data")
		c.wantErr(r, 401, "M_MISSING_TOKEN")
	})
	run(t, "Thumbnail", func(c *T) {
		u := c.user()
		img := image.NewRGBA(image.Rect(0, 0, 200, 100))
		for x := 0; x < 200; x++ {
			for y := 0; y < 100; y++ {
				img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
			}
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			c.Fatalf("encode: %v", err)
		}
		sn, id := uploadMedia(c, u, buf.Bytes(), "image/png", "pic.png")
		r := u.Do("GET", "/_matrix/client/v1"+p("/media/thumbnail/%s/%s", sn, id)+"?width=32&height=32&method=scale", nil)
		if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "image/") {
			c.Fatalf("thumbnail: %s", r)
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(r.Body))
		if err != nil {
			c.Fatalf("thumbnail is not an image: %v", err)
		}
		if cfg.Width > 200 || cfg.Height > 100 || cfg.Width < 32 && cfg.Height < 32 {
			c.Errorf("thumbnail %dx%d for a 32x32 request of a 200x100 image", cfg.Width, cfg.Height)
		}
	})
	run(t, "HTMLNotServedInline", func(c *T) {
		// A browser must not render uploaded HTML as a page of the server's origin.
		u := c.user()
		sn, id := uploadMedia(c, u, []byte("<script>alert(1)</script>"), "text/html", "x.html")
		r := u.Do("GET", "/_matrix/client/v1"+p("/media/download/%s/%s", sn, id), nil)
		if r.Status != 200 {
			c.Fatalf("download: %s", r)
		}
		ct, cd := r.Header.Get("Content-Type"), r.Header.Get("Content-Disposition")
		if strings.HasPrefix(ct, "text/html") && !strings.HasPrefix(cd, "attachment") {
			c.Errorf("HTML served inline: Content-Type %q, Content-Disposition %q", ct, cd)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" && !strings.Contains(r.Header.Get("Content-Security-Policy"), "sandbox") {
			c.Errorf("no nosniff or sandboxing CSP on user content")
		}
	})
	run(t, "DownloadKeepsFilename", func(c *T) {
		u := c.user()
		sn, id := uploadMedia(c, u, []byte("report"), "text/plain", "report.txt")
		r := u.Do("GET", "/_matrix/client/v1"+p("/media/download/%s/%s", sn, id), nil)
		if !strings.Contains(r.Header.Get("Content-Disposition"), "report.txt") {
			c.Errorf("Content-Disposition %q lacks the uploaded filename", r.Header.Get("Content-Disposition"))
		}
	})
	run(t, "OverSizeLimit", func(c *T) {
		u := c.user()
		j := u.Must("GET", "/_matrix/client/v1/media/config", nil)
		limit, _ := j["m.upload.size"].(float64)
		if limit <= 0 || limit > 64<<20 {
			c.Skipf("m.upload.size %v: too large to exceed in a test", j["m.upload.size"])
		}
		big := bytes.Repeat([]byte("z"), int(limit)+1)
		r := u.Do("POST", "/_matrix/media/v3/upload", big)
		c.wantErr(r, 413, "M_TOO_LARGE")
	})
}
