package check

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"scop/mailstack"
	"scop/mailstack/dkim"
	"scop/mailstack/dmarc"
	"scop/mailstack/dns"
	"scop/mailstack/reputation"
	"scop/mailstack/spam"
	"scop/mailstack/spf"
)

// SPFCheck checks the MAIL FROM identity (the HELO identity for bounces) of the
// connecting IP (RFC 7208). It never rejects alone: DMARC decides what a
// failure means; the result feeds DMARC, reputation and the headers.
type SPFCheck struct {
	Resolver dns.Resolver
	Config   spf.Config
}

// Name implements Check.
func (*SPFCheck) Name() string { return "spf" }

// CheckBody implements BodyChecker.
func (c *SPFCheck) CheckBody(ctx context.Context, m *Message) error {
	res := c.Config.Check(ctx, c.Resolver, m.Conn.IP, m.Conn.Helo, m.From)
	m.SPF = &res
	return nil
}

// DKIMCheck verifies the message's DKIM signatures (RFC 6376).
type DKIMCheck struct {
	Verifier *dkim.Verifier
}

// Name implements Check.
func (*DKIMCheck) Name() string { return "dkim" }

// CheckBody implements BodyChecker.
func (c *DKIMCheck) CheckBody(ctx context.Context, m *Message) error {
	res, err := c.Verifier.Verify(ctx, bytes.NewReader(m.Raw))
	if err != nil {
		// An unreadable header: no signature can be evaluated.
		m.Auth = append(m.Auth, AuthResult{Method: "dkim", Result: "permerror", Reason: "unreadable header"})
		return nil
	}
	m.DKIM = res
	return nil
}

// errDMARCReject answers a failed DMARC check under p=reject (RFC 7489
// §6.6.2 / §10.3 suggest 550 5.7.1).
var errDMARCReject = &mailstack.Error{Code: 550, Enhanced: [3]int{5, 7, 1}, Message: "Message rejected by the sender domain's DMARC policy"}

// DMARCCheck evaluates the author domain's policy from the SPF and DKIM results
// (run SPF and DKIM before it). p=reject rejects; p=quarantine marks the
// message as spam.
type DMARCCheck struct {
	Evaluator *dmarc.Evaluator
}

// Name implements Check.
func (*DMARCCheck) Name() string { return "dmarc" }

// CheckBody implements BodyChecker.
func (c *DMARCCheck) CheckBody(ctx context.Context, m *Message) error {
	in := dmarc.Input{DKIM: m.DKIM}
	if m.SPF != nil {
		in.SPF = dmarc.SPFInput(*m.SPF)
	}
	h, err := readHeader(m.Raw)
	if err == nil {
		in.FromDomain, err = dmarc.AuthorDomain(h)
	}
	var res dmarc.Result
	if err != nil {
		res = dmarc.Result{Status: dmarc.StatusPermerror, Disposition: dmarc.DispositionNone, Err: err}
	} else {
		res = c.Evaluator.Evaluate(ctx, in)
	}
	m.DMARC = &res
	switch res.Disposition {
	case dmarc.DispositionReject:
		return &mailstack.Error{Code: errDMARCReject.Code, Enhanced: errDMARCReject.Enhanced, Message: errDMARCReject.Message,
			Err: errors.New("dmarc: p=reject for " + res.Domain)}
	case dmarc.DispositionQuarantine:
		m.Quarantine = true
	}
	return nil
}

func readHeader(raw []byte) (mail.Header, error) {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return mail.Header{}, err
	}
	return mail.Header{Header: message.Header{Header: h}}, nil
}

// SpamCheck scores the message with the Bayes filter (mailstack/spam) and sets
// the verdict for X-Spam-Status; it never rejects.
type SpamCheck struct {
	Filter *spam.Filter
}

// Name implements Check.
func (*SpamCheck) Name() string { return "spam" }

// CheckBody implements BodyChecker.
func (c *SpamCheck) CheckBody(_ context.Context, m *Message) error {
	r := c.Filter.Classify(m.Raw)
	m.SpamScore = r.Score
	m.Dangerous = r.Dangerous
	switch r.Verdict {
	case spam.Spam:
		m.Spam = Spam
	case spam.Ham:
		m.Spam = Ham
	default:
		m.Spam = Unsure
	}
	return nil
}

// errBlocked refuses a client whose reputation reached the threshold.
var errBlocked = &mailstack.Error{Code: 554, Enhanced: [3]int{5, 7, 1}, Message: "Service refused; your address has a poor reputation"}

// ReputationCheck refuses blocked client addresses at connect (554 5.7.1) and
// records each message's misbehaviour (SPF fail, DMARC fail under an
// enforcing policy, spam, dangerous attachments, other rejections).
type ReputationCheck struct {
	Rep *reputation.Reputation
	Log *slog.Logger
}

// Name implements Check.
func (*ReputationCheck) Name() string { return "reputation" }

// CheckConnect implements ConnectChecker.
func (c *ReputationCheck) CheckConnect(_ context.Context, conn *Conn) error {
	if conn.IP != nil && c.Rep.Blocked(conn.IP) {
		return errBlocked
	}
	return nil
}

// ObserveRcptRefused implements RcptRefusedObserver: each unknown
// recipient or relay attempt costs the client address a rejection.
func (c *ReputationCheck) ObserveRcptRefused(ctx context.Context, conn *Conn, _ string, _ error) {
	if err := c.Rep.Record(ctx, conn.IP, "", reputation.EventRejected); err != nil && c.Log != nil {
		c.Log.Warn("reputation: record", "event", reputation.EventRejected, "err", err)
	}
}

// Observe implements Observer.
func (c *ReputationCheck) Observe(ctx context.Context, m *Message, rejected error) {
	var ip = m.Conn.IP
	record := func(domain string, ev reputation.Event) {
		if err := c.Rep.Record(ctx, ip, domain, ev); err != nil && c.Log != nil {
			c.Log.Warn("reputation: record", "event", ev, "err", err)
		}
	}
	if m.SPF != nil && m.SPF.Status == spf.Fail {
		record(m.SPF.Domain, reputation.EventSPFFail)
	}
	if m.DMARC != nil && m.DMARC.Status == dmarc.StatusFail && m.DMARC.Disposition != dmarc.DispositionNone {
		record(m.DMARC.Domain, reputation.EventDMARCFail)
	}
	if m.Spam == Spam && !m.Quarantine {
		record("", reputation.EventSpam)
	}
	if len(m.Dangerous) > 0 {
		record("", reputation.EventDangerous)
	}
	if rejected != nil && (m.DMARC == nil || m.DMARC.Disposition != dmarc.DispositionReject) {
		record("", reputation.EventRejected)
	}
}
