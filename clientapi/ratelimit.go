package clientapi

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// limiter holds a token bucket per (action, key). Buckets that have
// refilled completely are dropped by a sweep so idle clients cost nothing.
type limiter struct {
	mu        sync.Mutex
	rates     map[string]rate
	buckets   map[string]*bucket
	lastSweep time.Time
}

type rate struct {
	perSecond float64
	burst     float64
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter() *limiter {
	return &limiter{rates: map[string]rate{}, buckets: map[string]*bucket{}}
}

// SetRateLimit limits the routes of action (see RateLimit) to perSecond
// requests per second with bursts of burst, per user or client IP.
// perSecond <= 0 removes the limit. Call it before serving.
func (a *API) SetRateLimit(action string, perSecond float64, burst int) {
	a.limits.mu.Lock()
	defer a.limits.mu.Unlock()
	if perSecond <= 0 {
		delete(a.limits.rates, action)
		return
	}
	if burst < 1 {
		burst = 1
	}
	a.limits.rates[action] = rate{perSecond: perSecond, burst: float64(burst)}
}

// allow takes a token for key under action. When none is left it returns
// how long until one is.
func (l *limiter) allow(action, key string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rt, ok := l.rates[action]
	if !ok {
		return 0, true
	}
	if now.Sub(l.lastSweep) > time.Minute {
		l.sweep(now)
	}
	k := action + "\x00" + key
	b := l.buckets[k]
	if b == nil {
		b = &bucket{tokens: rt.burst, last: now}
		l.buckets[k] = b
	}
	b.tokens = min(rt.burst, b.tokens+now.Sub(b.last).Seconds()*rt.perSecond)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	wait := time.Duration((1 - b.tokens) / rt.perSecond * float64(time.Second))
	return wait, false
}

func (l *limiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		// The longest refill time among actions bounds when a bucket is full.
		full := true
		for _, rt := range l.rates {
			if b.tokens+now.Sub(b.last).Seconds()*rt.perSecond < rt.burst {
				full = false
				break
			}
		}
		if full {
			delete(l.buckets, k)
		}
	}
}

// clientIP is the peer address of r. SCoP does not trust X-Forwarded-For:
// a reverse proxy in front would make every client one IP, which limits
// too much rather than too little.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
