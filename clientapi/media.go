package clientapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"

	"scop/homeserver"
	"scop/homeserver/media"
)

// MediaStore is what the media routes need from the content repository.
type MediaStore interface {
	Upload(ctx context.Context, userID, contentType, filename string, r io.Reader) (string, error)
	Open(ctx context.Context, serverName, mediaID string) (media.Item, *os.File, error)
	Thumbnail(ctx context.Context, serverName, mediaID string, w, h int, method string) (string, int64, io.ReadCloser, error)
	MaxSize() int64
}

// RegisterMedia adds the content repository routes (spec: "Content
// repository"): upload, download and config under /_matrix/media/v3 (and
// r0), downloads also under the authenticated /_matrix/client/v1/media.
// Thumbnails are scaled PNG, JPEG and GIF images; other images are served
// as they are.
func (a *API) RegisterMedia(st MediaStore) {
	m := &mediaRoutes{st: st}
	for _, prefix := range []string{"/_matrix/media/v3", "/_matrix/media/r0"} {
		a.Handle("POST "+prefix+"/upload", Authed, m.upload, MaxBody(st.MaxSize()), RateLimit("send"))
		a.Handle("GET "+prefix+"/download/{serverName}/{mediaID}", Public, m.download)
		a.Handle("GET "+prefix+"/download/{serverName}/{mediaID}/{fileName}", Public, m.download)
		a.Handle("GET "+prefix+"/thumbnail/{serverName}/{mediaID}", Public, m.thumbnail)
		a.Handle("GET "+prefix+"/config", Authed, m.config)
	}
	const v1 = "/_matrix/client/v1/media"
	a.Handle("GET "+v1+"/download/{serverName}/{mediaID}", Authed, m.download)
	a.Handle("GET "+v1+"/download/{serverName}/{mediaID}/{fileName}", Authed, m.download)
	a.Handle("GET "+v1+"/thumbnail/{serverName}/{mediaID}", Authed, m.thumbnail)
	a.Handle("GET "+v1+"/config", Authed, m.config)
}

type mediaRoutes struct{ st MediaStore }

func (m *mediaRoutes) config(r *http.Request) (any, error) {
	return map[string]any{"m.upload.size": m.st.MaxSize()}, nil
}

func (m *mediaRoutes) upload(r *http.Request) (any, error) {
	uri, err := m.st.Upload(r.Context(), MustDevice(r).UserID, r.Header.Get("Content-Type"), r.URL.Query().Get("filename"), r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, &homeserver.Error{Code: homeserver.ErrTooLarge, Message: "Upload is too large", Status: http.StatusRequestEntityTooLarge}
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"content_uri": uri}, nil
}

// inlineTypes may be shown in the browser; anything else is served as an
// attachment so that an uploaded HTML page cannot run on our origin.
var inlineTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp", "image/apng", "image/avif",
	"video/mp4", "video/webm", "video/ogg", "audio/mpeg", "audio/ogg", "audio/wav", "audio/webm", "audio/mp4", "text/plain"}

func (m *mediaRoutes) serveItem(r *http.Request) (any, error) {
	it, f, err := m.st.Open(r.Context(), r.PathValue("serverName"), r.PathValue("mediaID"))
	if err != nil {
		return nil, err
	}
	base, _, _ := mime.ParseMediaType(it.ContentType)
	name := it.Filename
	if fn := r.PathValue("fileName"); fn != "" {
		name = fn
	}
	disposition := "attachment"
	for _, t := range inlineTypes {
		if base == t {
			disposition = "inline"
		}
	}
	if name != "" {
		disposition = mime.FormatMediaType(disposition, map[string]string{"filename": name})
	}
	return Raw{Header: mediaHeaders(it.ContentType, it.Size, disposition), Body: f}, nil
}

func (m *mediaRoutes) download(r *http.Request) (any, error) { return m.serveItem(r) }

func (m *mediaRoutes) thumbnail(r *http.Request) (any, error) {
	q := r.URL.Query()
	var size [2]int
	for i, p := range []string{"width", "height"} {
		v := q.Get(p)
		if v == "" {
			return nil, homeserver.Errorf(homeserver.ErrMissingParam, "%s is required", p)
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "%s must be a positive integer", p)
		}
		size[i] = n
	}
	method := q.Get("method")
	if method != "" && method != "crop" && method != "scale" {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "method must be crop or scale")
	}
	it, f, err := m.st.Open(r.Context(), r.PathValue("serverName"), r.PathValue("mediaID"))
	if err != nil {
		return nil, err
	}
	f.Close()
	if base, _, _ := mime.ParseMediaType(it.ContentType); !strings.HasPrefix(base, "image/") {
		return nil, homeserver.Errorf(homeserver.ErrNotFound, "No thumbnail for %s", base)
	}
	ct, n, body, err := m.st.Thumbnail(r.Context(), r.PathValue("serverName"), r.PathValue("mediaID"), size[0], size[1], method)
	if err != nil {
		return nil, err
	}
	h := mediaHeaders(ct, n, "inline")
	return Raw{Header: h, Body: body}, nil
}

func mediaHeaders(contentType string, size int64, disposition string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("Content-Disposition", disposition)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d, immutable", 86400*365))
	return h
}
