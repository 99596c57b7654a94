// Package check runs the receiver's message checks stage by stage, as the
// SMTP dialogue unfolds: Connect, MailFrom, Rcpt, then Body once the data
// is in. A check implements the stage interfaces it cares about; the
// Pipeline calls them in order and folds their results into a Verdict
// whose authentication results become an Authentication-Results header
// (RFC 8601) and whose spam verdict becomes X-Spam-Status.
package check

import (
	"context"
	"log/slog"
	"net"
	"runtime/debug"

	"scop/mailstack"
	"scop/mailstack/authres"
	"scop/mailstack/dkim"
	"scop/mailstack/dmarc"
	"scop/mailstack/spf"
)

// Conn is what the checks know about an SMTP connection.
type Conn struct {
	IP   net.IP
	Helo string
	TLS  bool
}

// Message is a received message and its envelope, as the Body checks see
// it. Auth accumulates the results of the checks already run, so a later
// check (DMARC) can use earlier ones (SPF, DKIM).
type Message struct {
	Conn *Conn
	From string
	To   []string
	// Raw is the message as received (header and body, CRLF lines).
	Raw  []byte
	Auth []AuthResult
	// Spam and SpamScore are set by the spam check.
	Spam      SpamVerdict
	SpamScore float64
	// Quarantine is set by a check (DMARC p=quarantine) to mark as spam.
	Quarantine bool
	// Dangerous lists dangerous attachments the spam check found.
	Dangerous []string

	// Typed results of the authentication checks, for later checks
	// (DMARC uses SPF and DKIM) and for Authentication-Results.
	SPF   *spf.Result
	DKIM  []dkim.Result
	DMARC *dmarc.Result
}

// AuthResults returns the Authentication-Results entries: SPF, DKIM and
// DMARC in RFC 8601 form (mailstack/authres), then any other check's.
func (m *Message) AuthResults() []AuthResult {
	in := authres.Input{DKIM: m.DKIM, DMARC: m.DMARC}
	if m.SPF != nil {
		in.SPF = authres.SPFFrom(*m.SPF)
	}
	var out []AuthResult
	for _, r := range authres.Results(in) {
		ar := AuthResult{Method: r.Method, Result: r.Value, Reason: r.Reason}
		for _, p := range r.Props {
			ar.Props = append(ar.Props, Prop{Type: p.Type, Name: p.Name, Value: p.Value})
		}
		out = append(out, ar)
	}
	return append(out, m.Auth...)
}

// SpamVerdict is the spam filter's classification.
type SpamVerdict string

// The spam verdicts; the zero value means the filter did not run.
const (
	Ham    SpamVerdict = "ham"
	Unsure SpamVerdict = "unsure"
	Spam   SpamVerdict = "spam"
)

// Check is one named check. It implements one or more of the stage
// interfaces below; Name appears in logs.
type Check interface {
	Name() string
}

// ConnectChecker runs when a client connects, before our greeting: only
// Conn.IP is known. A non-nil error (a *mailstack.Error) replaces the 220
// greeting (554 refuses the connection, RFC 5321 §3.1). It runs on every
// connection: keep it cheap (memory only).
type ConnectChecker interface {
	CheckConnect(ctx context.Context, c *Conn) error
}

// MailFromChecker runs on MAIL FROM.
type MailFromChecker interface {
	CheckMailFrom(ctx context.Context, c *Conn, from string) error
}

// RcptChecker runs on each RCPT TO.
type RcptChecker interface {
	CheckRcpt(ctx context.Context, c *Conn, from, to string) error
}

// BodyChecker runs once the message data is received; it may append to
// m.Auth, set m.Spam or m.Quarantine, or reject with an error.
type BodyChecker interface {
	CheckBody(ctx context.Context, m *Message) error
}

// Observer learns the final outcome of each message (reputation updates).
// rejected is nil for accepted messages.
type Observer interface {
	Observe(ctx context.Context, m *Message, rejected error)
}

// RcptRefusedObserver learns recipients the receiver refused (unknown
// mailbox, relay attempt): repeated ones mark address harvesting.
type RcptRefusedObserver interface {
	ObserveRcptRefused(ctx context.Context, c *Conn, to string, refusal error)
}

// Pipeline runs a list of checks in order. The zero value accepts all.
type Pipeline struct {
	Checks []Check
	Log    *slog.Logger
}

// Connect runs the ConnectCheckers; the first error wins.
func (p *Pipeline) Connect(ctx context.Context, c *Conn) error {
	for _, ch := range p.Checks {
		if cc, ok := ch.(ConnectChecker); ok {
			if err := p.guard(ch, func() error { return cc.CheckConnect(ctx, c) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// MailFrom runs the MailFromCheckers; the first error wins.
func (p *Pipeline) MailFrom(ctx context.Context, c *Conn, from string) error {
	for _, ch := range p.Checks {
		if mc, ok := ch.(MailFromChecker); ok {
			if err := p.guard(ch, func() error { return mc.CheckMailFrom(ctx, c, from) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// Rcpt runs the RcptCheckers; the first error wins.
func (p *Pipeline) Rcpt(ctx context.Context, c *Conn, from, to string) error {
	for _, ch := range p.Checks {
		if rc, ok := ch.(RcptChecker); ok {
			if err := p.guard(ch, func() error { return rc.CheckRcpt(ctx, c, from, to) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// RcptRefused tells the RcptRefusedObservers about a refused recipient.
func (p *Pipeline) RcptRefused(ctx context.Context, c *Conn, to string, refusal error) {
	for _, ch := range p.Checks {
		if o, ok := ch.(RcptRefusedObserver); ok {
			p.guard(ch, func() error { o.ObserveRcptRefused(ctx, c, to, refusal); return nil })
		}
	}
}

// Body runs the BodyCheckers in order, then tells the Observers the
// outcome. The first error rejects the message.
func (p *Pipeline) Body(ctx context.Context, m *Message) error {
	var rejected error
	for _, ch := range p.Checks {
		if bc, ok := ch.(BodyChecker); ok {
			if err := p.guard(ch, func() error { return bc.CheckBody(ctx, m) }); err != nil {
				rejected = err
				break
			}
		}
	}
	if m.Quarantine {
		m.Spam = Spam
	}
	for _, ch := range p.Checks {
		if o, ok := ch.(Observer); ok {
			p.guard(ch, func() error { o.Observe(ctx, m, rejected); return nil })
		}
	}
	return rejected
}

// errCheckFailed answers a check that panicked: the client retries later.
var errCheckFailed = &mailstack.Error{Code: 451, Enhanced: [3]int{4, 3, 0}, Message: "Temporary local error, try again later"}

// guard runs one check, turning a panic into a temporary failure so a bug
// in one check never takes the connection down silently.
func (p *Pipeline) guard(ch Check, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			log := p.Log
			if log == nil {
				log = slog.Default()
			}
			log.Error("check panicked", "check", ch.Name(), "panic", r, "stack", string(debug.Stack()))
			err = errCheckFailed
		}
	}()
	return f()
}
