package notifier

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix"
)

// TestRetry drives mautrix's client against a scripted server (the network
// edge) to check how each answer is retried.
func TestRetry(t *testing.T) {
	tests := []struct {
		name     string
		answers  []func(w http.ResponseWriter)
		wantErr  bool
		wantHits int32
		minWait  time.Duration
	}{
		{"RetryAfterMs", []func(http.ResponseWriter){limited(120), limited(120), ok}, false, 3, 240 * time.Millisecond},
		{"LimitsUseNoAttempts", []func(http.ResponseWriter){limited(5), limited(5), limited(5), limited(5), ok}, false, 5, 20 * time.Millisecond},
		{"RetryAfterHeader", []func(http.ResponseWriter){func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			w.Write([]byte(`{"errcode":"M_LIMIT_EXCEEDED","error":"slow down"}`))
		}, ok}, false, 2, time.Second},
		{"ServerErrorBacksOff", []func(http.ResponseWriter){status(502), status(500), ok}, false, 3, 0},
		{"ForbiddenIsPermanent", []func(http.ResponseWriter){forbidden, ok}, true, 1, 0},
		{"GivesUp", []func(http.ResponseWriter){status(503), status(503), status(503), status(503), ok}, true, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := hits.Add(1)
				w.Header().Set("Content-Type", "application/json")
				tt.answers[min(int(n), len(tt.answers))-1](w)
			}))
			defer srv.Close()
			cli, err := newClient(srv.URL, "@bot:x", "tok")
			if err != nil {
				t.Fatal(err)
			}
			r := Retry{Attempts: 3, Base: 5 * time.Millisecond, Max: 20 * time.Millisecond}
			start := time.Now()
			err = r.do(t.Context(), slog.New(slog.NewTextHandler(t.Output(), nil)), &Gate{}, func(ctx context.Context) error {
				_, err := cli.Whoami(ctx)
				return err
			})
			if (err != nil) != tt.wantErr {
				t.Fatalf("do = %v, want error %v", err, tt.wantErr)
			}
			if got := hits.Load(); got != tt.wantHits {
				t.Errorf("server saw %d requests, want %d", got, tt.wantHits)
			}
			if d := time.Since(start); d < tt.minWait {
				t.Errorf("took %v, want at least %v (the server's retry_after)", d, tt.minWait)
			}
			if tt.name == "ForbiddenIsPermanent" && !errors.Is(err, mautrix.MForbidden) {
				t.Errorf("error %v does not wrap M_FORBIDDEN", err)
			}
		})
	}
}

func limited(ms int) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.WriteHeader(429)
		w.Write([]byte(`{"errcode":"M_LIMIT_EXCEEDED","error":"slow down","retry_after_ms":` + strconv.Itoa(ms) + `}`))
	}
}

func status(code int) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.WriteHeader(code)
		w.Write([]byte(`{"errcode":"M_UNKNOWN","error":"oops"}`))
	}
}

func ok(w http.ResponseWriter) { w.Write([]byte(`{"user_id":"@bot:x","device_id":"D"}`)) }

func forbidden(w http.ResponseWriter) {
	w.WriteHeader(403)
	w.Write([]byte(`{"errcode":"M_FORBIDDEN","error":"no"}`))
}
