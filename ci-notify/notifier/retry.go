package notifier

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
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

// maxLimited bounds the total time one call spends waiting on 429s, which
// do not count as attempts: the server said when to come back.
const maxLimited = 5 * time.Minute

// Gate holds every call to one homeserver back after a 429, so that
// parallel workers wait out a rate limit together instead of each running
// into it again. The zero value is open.
type Gate struct {
	mu        sync.Mutex
	notBefore time.Time
}

// wait blocks until the gate opens or ctx ends.
func (g *Gate) wait(ctx context.Context) error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	d := time.Until(g.notBefore)
	g.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// close keeps the gate shut for d from now (never shortening a wait).
func (g *Gate) close(d time.Duration) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if t := time.Now().Add(d); t.After(g.notBefore) {
		g.notBefore = t
	}
}

// do runs fn until it succeeds, fails permanently, the attempts run out, or
// ctx ends. A 429 waits for the server's retry_after_ms (or Retry-After),
// shutting g for every caller meanwhile, and does not use up an attempt;
// 5xx, 408 and network failures back off exponentially with jitter; any
// other 4xx is permanent. g may be nil.
func (r Retry) do(ctx context.Context, log *slog.Logger, g *Gate, fn func(context.Context) error) error {
	if r.Attempts <= 0 {
		r = DefaultRetry
	}
	backoff := r.Base
	var limited time.Duration
	var err error
	for attempt := 1; ; {
		if err := g.wait(ctx); err != nil {
			return err
		}
		err = fn(ctx)
		if err == nil {
			return nil
		}
		wait, retryable := classify(err)
		if !retryable {
			return errPermanent{err}
		}
		if wait < 0 {
			if attempt >= r.Attempts {
				return err
			}
			attempt++
			// Jitter spreads retries of many pipelines over time.
			wait = backoff/2 + rand.N(backoff/2+1)
			backoff = min(backoff*2, r.Max)
			log.Warn("homeserver call failed; retrying", "attempt", attempt, "wait_ms", wait.Milliseconds(), "err", err)
		} else {
			if limited += wait; limited > maxLimited {
				return err
			}
			g.close(wait)
			// A little jitter so that held-back callers do not all
			// arrive in the same millisecond.
			wait += rand.N(wait/10 + time.Millisecond)
			log.Info("homeserver rate limit; waiting as asked", "wait_ms", wait.Milliseconds())
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
