// Package clientapi serves the Matrix Client-Server API
// (https://spec.matrix.org/latest/client-server-api/) over net/http. Each
// file covers one area of the spec and registers its routes on an *API;
// handlers decode and validate, call a homeserver service, and encode. The
// only mapping from errors to errcode and HTTP status is in errors.go.
package clientapi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"scop/homeserver"
)

// Auth says whether a route needs an access token.
type Auth int

const (
	// Public routes take no token (and ignore one that is sent).
	Public Auth = iota
	// Authed routes need a valid access token; the device is in the context.
	Authed
	// OptionalAuth routes use the token when given and valid.
	OptionalAuth
)

// Handler serves one endpoint. It returns the JSON response body (sent with
// 200 unless it is a Response) or an error, which errors.go maps to the
// spec's errcode and status.
type Handler func(r *http.Request) (any, error)

// Response is a body with a status other than 200.
type Response struct {
	Status int
	Body   any
}

// Authenticator resolves an access token to the device it was issued to.
// It returns a *homeserver.Error with M_UNKNOWN_TOKEN for an unknown token.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (homeserver.Device, error)
}

// Masquerader is implemented by an Authenticator that supports
// application services acting as users of their namespace (?user_id=).
type Masquerader interface {
	Masquerade(ctx context.Context, dev homeserver.Device, userID string) (homeserver.Device, error)
}

// toucher is implemented by an Authenticator that records each device's
// last use (for the device list's last_seen_ts and last_seen_ip).
type toucher interface {
	Touch(ctx context.Context, dev homeserver.Device, ip string)
}

// API is the Client-Server API's router. Create it with New, register the
// areas' routes, then serve it as an http.Handler.
type API struct {
	mux     *http.ServeMux
	auth    Authenticator
	log     *slog.Logger
	maxBody int64
	limits  *limiter
	metrics *Metrics

	stopping chan struct{}
	stopOnce sync.Once

	keys     Keys            // set by RegisterAccounts, for DeviceKeyCounts
	presence *presenceStore  // set by RegisterAccounts, for PresenceOf
	toDevice *toDeviceRoutes // set by RegisterToDevice, for /sync
	pushers  Pushers         // set by RegisterPushers
}

// New returns an API with no routes. maxBody limits request bodies (bytes).
func New(auth Authenticator, log *slog.Logger, maxBody int64) *API {
	return &API{mux: http.NewServeMux(), auth: auth, log: log, maxBody: maxBody,
		limits: newLimiter(), metrics: newMetrics(), stopping: make(chan struct{})}
}

// Option changes how one route is served.
type Option func(*route)

type route struct {
	pattern string
	auth    Auth
	limit   string // rate-limit action, "" for none
	maxBody int64  // 0: the API's limit
}

// MaxBody sets a route's request body limit in place of the API's (media
// uploads are larger than any JSON body).
func MaxBody(n int64) Option { return func(r *route) { r.maxBody = n } }

// RateLimit applies the rate limit configured for action (SetRateLimit) to
// a route, counted per user on authenticated routes and per client IP
// otherwise. Routes of one action share the budget.
func RateLimit(action string) Option { return func(r *route) { r.limit = action } }

// Handle registers h for pattern, a method and a path relative to the
// client API prefix, e.g. "PUT /rooms/{roomID}/send/{eventType}/{txnID}".
// The route is served under /_matrix/client/v3 and /_matrix/client/r0.
// Paths that already start with /_matrix or /.well-known are used as given.
func (a *API) Handle(pattern string, auth Auth, h Handler, opts ...Option) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		panic("clientapi: pattern needs a method: " + pattern)
	}
	rt := &route{pattern: pattern, auth: auth}
	for _, o := range opts {
		o(rt)
	}
	hf := a.wrap(rt, h)
	if strings.HasPrefix(path, "/_matrix/") || strings.HasPrefix(path, "/.well-known/") {
		a.mux.Handle(method+" "+path, hf)
		return
	}
	for _, prefix := range []string{"/_matrix/client/v3", "/_matrix/client/r0"} {
		a.mux.Handle(method+" "+prefix+path, hf)
	}
}

// ServeHTTP answers CORS preflights, limits the body and dispatches.
// Requests no route matches get M_UNRECOGNIZED: 404 for an unknown path,
// 405 for a known path with another method.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization")
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusOK)
		return
	}
	handler, pattern := a.mux.Handler(r)
	if pattern != "" {
		// mux.ServeHTTP, not handler.ServeHTTP: only it sets PathValue.
		a.mux.ServeHTTP(w, r)
		return
	}
	// The mux's own 404/405/redirect handler: keep its status and headers
	// (Allow, Location) but answer in the spec's error format.
	start := time.Now()
	fw := &fallbackWriter{ResponseWriter: w}
	handler.ServeHTTP(fw, r)
	status := fw.status
	switch status {
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		status = a.writeError(w, r, &homeserver.Error{Code: homeserver.ErrUnrecognized, Message: "Unrecognized request", Status: status})
	default:
		w.WriteHeader(status)
	}
	a.metrics.observe("unmatched", status, time.Since(start))
}

// fallbackWriter records the status the mux's fallback handler sets and
// drops its plain-text body.
type fallbackWriter struct {
	http.ResponseWriter
	status int
}

func (f *fallbackWriter) WriteHeader(code int) { f.status = code }

func (f *fallbackWriter) Write(b []byte) (int, error) {
	if f.status == 0 {
		f.status = http.StatusOK
	}
	return len(b), nil
}

type ctxKey struct{}

// DeviceFromContext returns the authenticated device of a request served
// on an Authed (or OptionalAuth, when a token was given) route.
func DeviceFromContext(ctx context.Context) (homeserver.Device, bool) {
	d, ok := ctx.Value(ctxKey{}).(homeserver.Device)
	return d, ok
}

// MustDevice is DeviceFromContext for Authed routes, where a device is always present.
func MustDevice(r *http.Request) homeserver.Device {
	d, _ := DeviceFromContext(r.Context())
	return d
}

func (a *API) wrap(rt *route, h Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		status := http.StatusInternalServerError
		a.metrics.inFlight.Inc()
		defer a.metrics.inFlight.Dec()
		defer func() {
			if p := recover(); p != nil {
				a.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p)
				status = a.writeError(w, r, errors.New("internal error"))
			}
			d := time.Since(start)
			a.metrics.observe(rt.pattern, status, d)
			if a.log.Enabled(r.Context(), slog.LevelDebug) {
				a.log.Debug("request", "route", rt.pattern, "status", status, "ms", float64(d.Microseconds())/1000)
			}
		}()
		status = a.serve(w, r, rt, h)
	})
}

// serve runs one request through auth, rate limit and handler and returns
// the status it answered with.
func (a *API) serve(w http.ResponseWriter, r *http.Request, rt *route, h Handler) int {
	if limit := cmp.Or(rt.maxBody, a.maxBody); limit > 0 && r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	if rt.auth != Public {
		tok := accessToken(r)
		if tok == "" && rt.auth == Authed {
			return a.writeError(w, r, &homeserver.Error{Code: homeserver.ErrMissingToken, Message: "Missing access token"})
		}
		if tok != "" {
			dev, err := a.auth.Authenticate(r.Context(), tok)
			if err != nil {
				return a.writeError(w, r, err)
			}
			if as := r.URL.Query().Get("user_id"); as != "" && dev.AppServiceID != "" && as != dev.UserID {
				m, ok := a.auth.(Masquerader)
				if !ok {
					return a.writeError(w, r, homeserver.Errorf(homeserver.ErrForbidden, "user_id is not supported"))
				}
				if dev, err = m.Masquerade(r.Context(), dev, as); err != nil {
					return a.writeError(w, r, err)
				}
			}
			r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, dev))
			if t, ok := a.auth.(toucher); ok {
				t.Touch(r.Context(), dev, clientIP(r))
			}
		}
	}
	dev, authed := DeviceFromContext(r.Context())
	// Application services (bridges) act for many users at once; they are
	// trusted and not rate limited.
	if rt.limit != "" && dev.AppServiceID == "" {
		key := clientIP(r)
		if authed {
			key = dev.UserID
		}
		if wait, ok := a.limits.allow(rt.limit, key, time.Now()); !ok {
			ms := wait.Milliseconds() + 1
			w.Header().Set("Retry-After", itoa((ms+999)/1000))
			return a.writeError(w, r, &homeserver.Error{Code: homeserver.ErrLimitExceeded, Message: "Too many requests",
				Extra: map[string]any{"retry_after_ms": ms}})
		}
	}
	body, err := h(r)
	if err != nil {
		return a.writeError(w, r, err)
	}
	status := http.StatusOK
	switch resp := body.(type) {
	case Response:
		status, body = resp.Status, resp.Body
	case Raw:
		return writeRaw(w, resp)
	}
	return writeJSON(w, status, body)
}

// Raw is a response that is not JSON (media downloads): Header is added
// to the response and Body copied out, then closed if it is an io.Closer.
type Raw struct {
	Status int // 0 means 200
	Header http.Header
	Body   io.Reader
}

func writeRaw(w http.ResponseWriter, resp Raw) int {
	if c, ok := resp.Body.(io.Closer); ok {
		defer c.Close()
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	status := cmp.Or(resp.Status, http.StatusOK)
	w.WriteHeader(status)
	io.Copy(w, resp.Body) // a client gone mid-download is not an error of ours
	return status
}

// accessToken reads the token from the Authorization header or, as the
// spec still allows, the access_token query parameter.
func accessToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
		return ""
	}
	return r.URL.Query().Get("access_token")
}

// DecodeJSON reads the request body as JSON into v: M_NOT_JSON for
// malformed JSON, M_BAD_JSON for a body that is not an object or has wrong
// types, M_TOO_LARGE over the limit. An empty body decodes as {}.
func DecodeJSON(r *http.Request, v any) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &homeserver.Error{Code: homeserver.ErrTooLarge, Message: "Request body too large", Status: http.StatusRequestEntityTooLarge}
		}
		return homeserver.Errorf(homeserver.ErrUnknown, "could not read request body")
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		data = []byte("{}")
	}
	if !json.Valid(data) {
		return homeserver.Errorf(homeserver.ErrNotJSON, "Content not JSON.")
	}
	// Every Client-Server request body is an object: null, arrays and
	// scalars are valid JSON but not a request.
	if trimmed := strings.TrimLeft(string(data), " \t\r\n"); trimmed[0] != '{' {
		return homeserver.Errorf(homeserver.ErrBadJSON, "Request body must be a JSON object")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return homeserver.Errorf(homeserver.ErrBadJSON, "Bad JSON: %v", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, body any) int {
	w.Header().Set("Content-Type", "application/json")
	data, err := json.Marshal(body)
	if err != nil {
		status = http.StatusInternalServerError
		data = []byte(`{"errcode":"M_UNKNOWN","error":"Internal server error"}`)
	}
	w.WriteHeader(status)
	w.Write(data)
	return status
}

// BeginShutdown tells long-running handlers (parked /sync requests) to
// return now; the server then waits only for short in-flight requests.
func (a *API) BeginShutdown() { a.stopOnce.Do(func() { close(a.stopping) }) }

// Stopping is closed when the server begins shutting down. A handler that
// waits (a parked /sync) selects on it and answers at once.
func (a *API) Stopping() <-chan struct{} { return a.stopping }
