package smtpserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"scop/mailstack"
	"scop/mailstack/authres"
	"scop/mailstack/check"
	"scop/mailstack/spool"
)

type backend struct{ s *Server }

// NewSession runs at the client's first HELO/EHLO (the connection checks
// ran before the greeting, see Server.connectCheck).
func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := b.s
	if !validHelo(c.Hostname()) {
		return nil, errBadHelo
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, isTLS := c.TLSConnectionState()
	cc := &check.Conn{Helo: c.Hostname(), TLS: isTLS}
	remote := c.Conn().RemoteAddr()
	if ta, ok := remote.(*net.TCPAddr); ok {
		cc.IP = ta.IP
	}
	log := s.log.With("remote_ip", hostOf(remote))
	return &session{s: s, conn: c, cc: cc, ctx: ctx, cancel: cancel, log: log}, nil
}

var errBadHelo = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Invalid HELO name"}

// validHelo: the HELO name is echoed in our reply and written into
// Received, so control characters are refused rather than reflected.
func validHelo(h string) bool {
	return strings.IndexFunc(h, func(r rune) bool { return r < ' ' || r == 0x7f }) < 0
}

// session is one SMTP connection's state; go-smtp calls it from one
// goroutine at a time.
type session struct {
	s      *Server
	conn   *smtp.Conn
	cc     *check.Conn
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger

	from  string
	size  int64 // SIZE declared in MAIL FROM (RFC 1870), or 0
	utf8  bool
	rcpts []string // mailbox addresses
	orig  []string // as the client gave them
}

var errTooManyCommands = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many commands, closing connection"}

// counted counts a command on an encrypted connection (the plaintext ones
// are counted below, in limitConn) and reports whether it is allowed.
func (ss *session) counted() bool {
	lc := limitConnOf(ss.conn.Conn())
	return lc == nil || lc.countCommand()
}

func (ss *session) Reset() {
	ss.from, ss.size, ss.utf8, ss.rcpts, ss.orig = "", 0, false, nil, nil
}

func (ss *session) Logout() error {
	ss.cancel()
	return nil
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	ss.Reset()
	if !ss.counted() {
		return errTooManyCommands
	}
	// STARTTLS and a new EHLO may have happened since NewSession.
	if !validHelo(ss.conn.Hostname()) {
		return errBadHelo
	}
	ss.cc.Helo = ss.conn.Hostname()
	_, ss.cc.TLS = ss.conn.TLSConnectionState()
	if err := ss.s.opts.Pipeline.MailFrom(ss.ctx, ss.cc, from); err != nil {
		return ss.s.toSMTP(err, ss.log)
	}
	ss.from = from
	if opts != nil {
		ss.utf8, ss.size = opts.UTF8, opts.Size
	}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !ss.counted() {
		return errTooManyCommands
	}
	mbox, err := ss.s.resolveRcpt(ss.ctx, to)
	if err != nil {
		var me *mailstack.Error
		if errors.As(err, &me) && me.Code >= 500 {
			ss.s.opts.Pipeline.RcptRefused(ss.ctx, ss.cc, to, err)
		}
		return ss.s.toSMTP(err, ss.log)
	}
	if err := ss.s.opts.Pipeline.Rcpt(ss.ctx, ss.cc, ss.from, to); err != nil {
		return ss.s.toSMTP(err, ss.log)
	}
	for _, r := range ss.rcpts {
		if r == mbox {
			return nil // two aliases of one mailbox: deliver once
		}
	}
	ss.rcpts = append(ss.rcpts, mbox)
	ss.orig = append(ss.orig, to)
	return nil
}

var errLineTooLong = &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Line too long"}

// Data reads the message, runs the body checks, adds our headers and
// spools it durably; returning nil makes go-smtp answer 250.
func (ss *session) Data(r io.Reader) error {
	// Reserve memory for the message first: the declared SIZE, else the
	// largest message allowed. A message longer than it declared is
	// refused (RFC 1870 §6.2) rather than read past its reservation.
	limit := ss.s.opts.Limits.MaxMessageBytes
	if ss.size > 0 && ss.size < limit {
		limit = ss.size
	}
	ss.s.mem.acquire(limit)
	defer ss.s.mem.release(limit)
	raw, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err == nil && int64(len(raw)) > limit {
		io.Copy(io.Discard, r)
		return smtp.ErrDataTooLarge
	}
	if err != nil {
		switch {
		case errors.Is(err, smtp.ErrDataTooLarge):
			return smtp.ErrDataTooLarge
		case errors.Is(err, smtp.ErrTooLongLine):
			return errLineTooLong
		case errors.Is(err, smtp.ErrDataReset):
			return err
		}
		// The client went away or stalled: nothing to tell an operator.
		ss.log.Debug("smtp: data read failed", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Connection error"}
	}
	if len(ss.rcpts) == 0 {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "No valid recipients"}
	}
	m := &check.Message{Conn: ss.cc, From: ss.from, To: ss.rcpts, Raw: raw}
	if err := ss.s.opts.Pipeline.Body(ss.ctx, m); err != nil {
		return ss.s.toSMTP(err, ss.log)
	}
	env := &spool.Envelope{
		ID:       spool.NewID(),
		From:     ss.from,
		To:       append([]string(nil), ss.rcpts...),
		Received: time.Now().UTC(),
		RemoteIP: ipString(ss.cc.IP),
		Helo:     ss.cc.Helo,
		UTF8:     ss.utf8,
		Spam:     string(m.Spam),
	}
	// Only we speak for our authserv-id (RFC 8601 §5).
	clean, _ := authres.StripForged(raw, ss.s.opts.AuthServID)
	hdr, body := check.SplitMessage(clean)
	hdr = dropFields(hdr, "X-Spam-Status")
	ours := ss.headers(env, m)
	parts := [][]byte{ours, hdr}
	if body != nil || bytes.HasSuffix(hdr, []byte("\n")) {
		parts = append(parts, []byte("\r\n"), body)
	}
	// The reply must not be sent before the message is durable, and a
	// client hanging up now must not cancel the write.
	if err := ss.s.opts.Spool.Enqueue(env, parts...); err != nil {
		return ss.s.toSMTP(err, ss.log)
	}
	ss.log.Info("smtp: accepted", "id", env.ID, "from", ss.from, "rcpts", len(env.To), "size", len(raw), "spam", m.Spam)
	return nil
}

// headers returns the trace and result fields we prepend (RFC 5321 §4.4,
// RFC 8601, X-Spam-Status).
func (ss *session) headers(env *spool.Envelope, m *check.Message) []byte {
	var b bytes.Buffer
	proto := "ESMTP"
	if ss.utf8 {
		proto = "UTF8SMTP"
	}
	if ss.cc.TLS {
		proto += "S"
	}
	fmt.Fprintf(&b, "Received: from %s (%s)\r\n\tby %s with %s id %s", sanitize(ss.cc.Helo), literal(ss.cc.IP), ss.s.opts.Hostname, proto, env.ID)
	if len(ss.orig) == 1 {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", sanitize(ss.orig[0]))
	}
	fmt.Fprintf(&b, ";\r\n\t%s\r\n", env.Received.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Authentication-Results: %s\r\n", check.FormatAuthResults(ss.s.opts.AuthServID, m.AuthResults()))
	if m.Spam != "" {
		yes := "No"
		if m.Spam == check.Spam {
			yes = "Yes"
		}
		fmt.Fprintf(&b, "X-Spam-Status: %s, score=%s verdict=%s\r\n", yes, strconv.FormatFloat(m.SpamScore, 'f', 3, 64), m.Spam)
	}
	return b.Bytes()
}

// dropFields removes the named fields: the sender must not be able to
// pass off its own spam verdict as ours.
func dropFields(hdr []byte, name string) []byte {
	fs := check.Fields(hdr)
	var out []byte
	dropped := false
	for _, f := range fs {
		if strings.EqualFold(f.Name, name) {
			dropped = true
			continue
		}
		out = append(out, f.Raw...)
	}
	if !dropped {
		return hdr
	}
	return out
}

// sanitize keeps client-supplied text from breaking our header lines.
func sanitize(s string) string {
	if s == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == '(' || r == ')' || r == ';' {
			return '?'
		}
		return r
	}, s)
}

func literal(ip net.IP) string {
	if ip == nil {
		return "unknown"
	}
	if ip.To4() == nil {
		return "[IPv6:" + ip.String() + "]"
	}
	return "[" + ip.String() + "]"
}

func ipString(ip net.IP) string {
	if ip == nil {
		return ""
	}
	return ip.String()
}

var _ smtp.Session = (*session)(nil)
