package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"time"

	"github.com/emersion/go-smtp"

	"scop/mailstack"
)

// Deliverer hands spooled messages to an LMTP server (RFC 2033). Each
// recipient's reply is honoured: 2xx delivered, 5xx a permanent failure
// (the message goes to the dead letters once no recipient is pending),
// 4xx or a connection failure retried with exponential backoff.
type Deliverer struct {
	Spool *Spool
	// Network and Addr locate the LMTP server ("tcp" or "unix").
	Network, Addr string
	// LocalName is sent in LHLO.
	LocalName string
	Retry     mailstack.Retry
	Log       *slog.Logger
	// Timeout bounds one whole delivery attempt (dial to last reply).
	Timeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Run delivers due messages until ctx is done. It wakes on each Enqueue
// and at the next scheduled retry.
func (d *Deliverer) Run(ctx context.Context) error {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	// tried holds, per message attempted in this run, the earliest next
	// attempt, so a message whose state could not be saved (disk error)
	// is not retried in a tight loop.
	tried := map[string]time.Time{}
	for {
		now := d.now()
		ids, next := d.Spool.Due(now)
		worked := false
		for _, id := range ids {
			if ctx.Err() != nil {
				return nil
			}
			if t, ok := tried[id]; ok && now.Before(t) {
				if next.IsZero() || t.Before(next) {
					next = t
				}
				continue
			}
			d.deliverOne(ctx, id)
			tried[id] = d.now().Add(d.Retry.Initial)
			worked = true
		}
		if worked {
			for id, t := range tried {
				if !t.After(d.now()) {
					delete(tried, id)
				}
			}
			continue
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(d.now()), time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-d.Spool.Notify():
		case <-t.C:
		}
		t.Stop()
	}
}

// deliverOne makes one attempt for queued id and records the outcome.
func (d *Deliverer) deliverOne(ctx context.Context, id string) {
	log := d.Log.With("id", id)
	st, err := d.Spool.State(id)
	if err != nil {
		log.Error("spool: state unreadable; retrying later", "err", err)
	}
	env, rc, err := d.Spool.Open(id)
	if err != nil {
		log.Error("spool: message unreadable", "err", err)
		st.NextAttempt = d.now().Add(d.Retry.Max)
		d.Spool.SaveState(id, st)
		return
	}
	defer rc.Close()
	if st.Delivered == nil {
		st.Delivered = map[string]string{}
	}
	if st.Failed == nil {
		st.Failed = map[string]string{}
	}
	pending := st.Pending(env)
	if len(pending) > 0 {
		st.Attempts++
		actx, cancel := context.WithTimeout(ctx, d.timeout())
		err = d.attempt(actx, env, pending, rc, &st)
		cancel()
		if err != nil {
			st.LastError = err.Error()
			log.Warn("lmtp delivery failed", "attempt", st.Attempts, "err", err)
		} else {
			st.LastError = ""
		}
		pending = st.Pending(env)
	}
	switch {
	case len(pending) == 0 && len(st.Failed) == 0:
		if err := d.Spool.Remove(id); err != nil {
			log.Error("spool: remove delivered", "err", err)
		}
		log.Info("delivered", "rcpts", len(env.To))
	case len(pending) == 0 || d.now().Sub(env.Received) > d.Retry.MaxAge:
		for _, r := range pending {
			st.Failed[r] = "expired: " + st.LastError
		}
		if err := d.Spool.Bury(id, st); err != nil {
			log.Error("spool: bury", "err", err)
		}
		log.Warn("dead letter", "failed", len(st.Failed))
	default:
		st.NextAttempt = d.now().Add(d.Backoff(st.Attempts))
		if err := d.Spool.SaveState(id, st); err != nil {
			log.Error("spool: save state", "err", err)
		}
	}
}

func (d *Deliverer) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return 5 * time.Minute
}

// Backoff returns the delay after the given number of failed attempts.
func (d *Deliverer) Backoff(attempts int) time.Duration {
	f := float64(d.Retry.Initial) * math.Pow(max(d.Retry.Factor, 1), float64(attempts-1))
	if f > float64(d.Retry.Max) || math.IsInf(f, 0) {
		return d.Retry.Max
	}
	return time.Duration(f)
}

// errNoTarget keeps messages queued when no LMTP target is configured.
var errNoTarget = errors.New("no LMTP target configured")

// attempt runs one LMTP transaction for the pending recipients and records
// per-recipient results in st. The error is for transaction-wide
// temporary failures.
func (d *Deliverer) attempt(ctx context.Context, env *Envelope, pending []string, body io.Reader, st *State) error {
	if d.Addr == "" {
		return errNoTarget
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, d.Network, d.Addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", d.Addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	local := d.LocalName
	if local == "" {
		local = "localhost"
	}
	if err := c.Hello(local); err != nil {
		return fmt.Errorf("lhlo: %w", err)
	}
	var mopts *smtp.MailOptions
	if env.UTF8 {
		mopts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.Mail(env.From, mopts); err != nil {
		if permanent(err) {
			for _, r := range pending {
				st.Failed[r] = err.Error()
			}
			return nil
		}
		return fmt.Errorf("mail from: %w", err)
	}
	var accepted []string
	var tempErr error
	for _, r := range pending {
		if err := c.Rcpt(r, nil); err != nil {
			if permanent(err) {
				st.Failed[r] = err.Error()
			} else {
				tempErr = fmt.Errorf("rcpt %s: %w", r, err)
			}
			continue
		}
		accepted = append(accepted, r)
	}
	if len(accepted) == 0 {
		c.Quit()
		return tempErr
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := io.Copy(w, body); err != nil {
		return fmt.Errorf("send data: %w", err)
	}
	resp, err := w.CloseWithLMTPResponse()
	var lmtpErr smtp.LMTPDataError
	if err != nil && !errors.As(err, &lmtpErr) {
		return fmt.Errorf("data reply: %w", err)
	}
	for _, r := range accepted {
		if e, ok := lmtpErr[r]; ok {
			if permanent(e) {
				st.Failed[r] = e.Error()
			} else {
				tempErr = fmt.Errorf("data %s: %w", r, e)
			}
			continue
		}
		if dr, ok := resp[r]; ok {
			st.Delivered[r] = dr.StatusText
		}
	}
	c.Quit()
	return tempErr
}

func permanent(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se) && se.Code >= 500
}
