package notifier

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"maunium.net/go/mautrix"
)

// Retry is the policy for calls to the homeserver. mautrix's own retries
// (Client.DefaultHTTPRetries) honour only a Retry-After header, not the
// retry_after_ms field that Matrix puts in a 429 body, so ci-notify turns
// them off (see newClient) and retries here instead.
type Retry struct {
	// Attempts is the most tries per call, the first included.
	Attempts int
	// Base is the wait after the first failure; it doubles up to Max.
	Base time.Duration
	Max  time.Duration
}

// DefaultRetry is used where Config.Retry is zero: about two minutes of
// trying before a call is given up (the pipeline stays "behind" and is tried
// again by the next sweep).
var DefaultRetry = Retry{Attempts: 8, Base: 500 * time.Millisecond, Max: 30 * time.Second}

// errPermanent marks an error that no retry can fix.
type errPermanent struct{ error }

func (e errPermanent) Unwrap() error { return e.error }

// do runs fn until it succeeds, fails permanently, the attempts run out, or
// ctx ends. A 429 waits for the server's retry_after_ms (or Retry-After);
// 5xx, 408 and network failures back off exponentially with jitter; any
// other 4xx is permanent.
func (r Retry) do(ctx context.Context, fn func(context.Context) error) error {
	if r.Attempts <= 0 {
		r = DefaultRetry
	}
	backoff := r.Base
	var err error
	for attempt := 1; ; attempt++ {
		err = fn(ctx)
		if err == nil {
			return nil
		}
		wait, retryable := classify(err)
		if !retryable {
			return errPermanent{err}
		}
		if attempt >= r.Attempts {
			return err
		}
		if wait < 0 {
			// Jitter spreads retries of many pipelines over time.
			wait = backoff/2 + rand.N(backoff/2+1)
			backoff = min(backoff*2, r.Max)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}

// classify says whether err is worth retrying and after how long the server
// asked for; a negative wait means "back off as usual".
func classify(err error) (time.Duration, bool) {
	const backoff = -1
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return 0, false
	}
	var he mautrix.HTTPError
	if !errors.As(err, &he) || he.Response == nil {
		return backoff, true // network failure: the request may not have arrived
	}
	switch code := he.Response.StatusCode; {
	case code == http.StatusTooManyRequests:
		if he.RespError != nil {
			if ms, ok := he.RespError.ExtraData["retry_after_ms"].(float64); ok && ms >= 0 {
				return min(time.Duration(ms)*time.Millisecond, 10*time.Minute), true
			}
		}
		if s, err := strconv.Atoi(he.Response.Header.Get("Retry-After")); err == nil && s >= 0 {
			return min(time.Duration(s)*time.Second, 10*time.Minute), true
		}
		return backoff, true
	case code >= 500, code == http.StatusRequestTimeout:
		return backoff, true
	}
	return 0, false
}
