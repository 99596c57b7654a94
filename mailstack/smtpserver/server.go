// Package smtpserver is SCoP's inbound SMTP receiver (RFC 5321) on
// github.com/emersion/go-smtp, with ESMTP extensions PIPELINING (RFC 2920),
// 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), CHUNKING (RFC 3030), SIZE
// (RFC 1870), ENHANCEDSTATUSCODES (RFC 2034/3463) and STARTTLS (RFC 3207).
//
// It never relays: recipients must be in one of our domains and name an
// existing mailbox or alias. Every limit is explicit (go-smtp's zero values
// mean unlimited). An accepted message is handed to the check pipeline,
// gets Received, Authentication-Results (RFC 8601) and X-Spam-Status
// headers and is fsync'd into the spool before the 250 reply.
package smtpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/emersion/go-smtp"

	"scop/mailstack"
	"scop/mailstack/check"
	"scop/mailstack/spool"
)

// Mailboxes tells whether a local part names a mailbox. In scop it is
// backed by the homeserver's accounts (alice@domain for @alice:domain).
type Mailboxes interface {
	Exists(ctx context.Context, localpart string) (bool, error)
}

// Options configure a Server. Limits, Spool and Domains are required.
type Options struct {
	// Hostname is our name in the greeting and Received headers.
	Hostname string
	// AuthServID is the authserv-id of our Authentication-Results.
	AuthServID string
	// Domains are the mail domains we accept mail for; the first is the
	// domain of the mailbox addresses written to the spool.
	Domains []string
	// Aliases maps a local part or full address to a mailbox local part.
	Aliases   map[string]string
	Mailboxes Mailboxes
	Limits    mailstack.Limits
	Pipeline  *check.Pipeline
	Spool     *spool.Spool
	// TLS enables STARTTLS when non-nil.
	TLS *tls.Config
	Log *slog.Logger
}

// Server is a running receiver.
type Server struct {
	opts    Options
	log     *slog.Logger
	smtp    *smtp.Server
	domains map[string]bool
	mem     *memBudget

	mu sync.Mutex
	ln net.Listener
}

// New builds a Server from opts.
func New(opts Options) (*Server, error) {
	if opts.Spool == nil {
		return nil, errors.New("smtpserver: no spool")
	}
	if len(opts.Domains) == 0 {
		return nil, errors.New("smtpserver: no mail domain")
	}
	l := opts.Limits
	if l.MaxMessageBytes <= 0 || l.MaxRecipients <= 0 || l.MaxLineLength <= 0 || l.MaxConnections <= 0 ||
		l.MaxConnsPerIP <= 0 || l.MaxCommands <= 0 || l.ReadTimeout <= 0 || l.WriteTimeout <= 0 {
		return nil, errors.New("smtpserver: every limit must be positive")
	}
	if l.MaxDataMemory < l.MaxMessageBytes {
		return nil, errors.New("smtpserver: MaxDataMemory below MaxMessageBytes")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Pipeline == nil {
		opts.Pipeline = &check.Pipeline{Log: opts.Log}
	}
	if opts.Hostname == "" {
		opts.Hostname = opts.Domains[0]
	}
	if opts.AuthServID == "" {
		opts.AuthServID = opts.Hostname
	}
	s := &Server{opts: opts, log: opts.Log, domains: map[string]bool{}, mem: newMemBudget(l.MaxDataMemory)}
	for _, d := range opts.Domains {
		s.domains[strings.ToLower(strings.TrimSuffix(d, "."))] = true
	}
	srv := smtp.NewServer(backend{s})
	srv.Domain = opts.Hostname
	srv.MaxMessageBytes = l.MaxMessageBytes
	srv.MaxRecipients = l.MaxRecipients
	srv.MaxLineLength = l.MaxLineLength
	srv.ReadTimeout = l.ReadTimeout
	srv.WriteTimeout = l.WriteTimeout
	srv.EnableSMTPUTF8 = true
	srv.TLSConfig = opts.TLS
	srv.ErrorLog = logAdapter{opts.Log}
	s.smtp = srv
	return s, nil
}

// Listen binds addr; Serve then accepts on it. Addr reports the bound
// address (useful with port 0).
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("smtpserver: listen %s: %w", addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	return nil
}

// Addr returns the bound address, or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Serve accepts connections on the listener bound by Listen (or on l when
// given) until Close or Shutdown.
func (s *Server) Serve(l net.Listener) error {
	if l == nil {
		s.mu.Lock()
		l = s.ln
		s.mu.Unlock()
	}
	if l == nil {
		return errors.New("smtpserver: Serve before Listen")
	}
	lim := s.opts.Limits
	ll := newLimitListener(l, lim.MaxConnections, lim.MaxConnsPerIP, lim.MaxCommands, s.connectCheck, s.log)
	ll.maxSession = lim.MaxSessionTime
	return s.smtp.Serve(ll)
}

// connectCheck runs the pipeline's Connect stage before the greeting; a
// refusal becomes the greeting itself (554 instead of 220).
func (s *Server) connectCheck(remote net.Addr) string {
	cc := &check.Conn{}
	if ta, ok := remote.(*net.TCPAddr); ok {
		cc.IP = ta.IP
	}
	err := s.opts.Pipeline.Connect(context.Background(), cc)
	if err == nil {
		return ""
	}
	se := s.toSMTP(err, s.log.With("remote_ip", hostOf(remote)))
	var e *smtp.SMTPError
	if !errors.As(se, &e) {
		return ""
	}
	return fmt.Sprintf("%d %d.%d.%d %s\r\n", e.Code, e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2], e.Message)
}

// Shutdown stops accepting and waits for sessions to end or ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.smtp.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return s.smtp.Close()
	}
	return err
}

// Close stops the server and drops every connection.
func (s *Server) Close() error { return s.smtp.Close() }

// resolveRcpt maps a recipient address to a mailbox address in our first
// domain, or returns the SMTP error to answer.
func (s *Server) resolveRcpt(ctx context.Context, addr string) (string, error) {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", &mailstack.Error{Code: 501, Enhanced: [3]int{5, 1, 3}, Message: "Bad recipient address syntax"}
	}
	local, domain := addr[:at], strings.ToLower(strings.TrimSuffix(addr[at+1:], "."))
	if !s.domains[domain] {
		return "", errRelayDenied
	}
	key := strings.ToLower(local)
	if a, ok := s.opts.Aliases[key+"@"+domain]; ok {
		key = strings.ToLower(a)
	} else if a, ok := s.opts.Aliases[key]; ok {
		key = strings.ToLower(a)
	}
	if s.opts.Mailboxes == nil {
		return "", errNoMailbox
	}
	ok, err := s.opts.Mailboxes.Exists(ctx, key)
	if err == nil && !ok {
		// Subaddressing (RFC 5233): alice+lists@ is alice's mailbox.
		if base, _, cut := strings.Cut(key, "+"); cut && base != "" {
			if ok, err = s.opts.Mailboxes.Exists(ctx, base); ok {
				key = base
			}
		}
	}
	if err != nil {
		return "", &mailstack.Error{Code: 451, Enhanced: [3]int{4, 3, 0}, Message: "Temporary local error, try again later", Err: err}
	}
	if !ok {
		return "", errNoMailbox
	}
	return key + "@" + s.opts.Domains[0], nil
}

var (
	errRelayDenied = &mailstack.Error{Code: 550, Enhanced: [3]int{5, 7, 1}, Message: "Relay access denied"}
	errNoMailbox   = &mailstack.Error{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "No such mailbox"}
)

// toSMTP turns any error into the *smtp.SMTPError go-smtp answers with:
// go-smtp finds it by type assertion, so wrapped errors must be unwrapped
// here or they would degrade to a generic 554 that leaks their text.
func (s *Server) toSMTP(err error, log *slog.Logger) error {
	if err == nil {
		return nil
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	var me *mailstack.Error
	if errors.As(err, &me) {
		if me.Err != nil {
			log.Info("smtp: refused", "code", me.Code, "err", me.Err)
		}
		return &smtp.SMTPError{Code: me.Code, EnhancedCode: smtp.EnhancedCode(me.Enhanced), Message: me.Message}
	}
	log.Error("smtp: internal error", "err", err)
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local error, try again later"}
}

// logAdapter sends go-smtp's Printf-style log to slog.
type logAdapter struct{ l *slog.Logger }

func (a logAdapter) Printf(format string, v ...any) { a.log(fmt.Sprintf(format, v...)) }
func (a logAdapter) Println(v ...any)               { a.log(fmt.Sprintln(v...)) }

// log keeps panics (with their stack) at Error; the rest is client
// behaviour such as resets and timeouts, not worth an operator's time.
func (a logAdapter) log(msg string) {
	msg = strings.TrimSpace(msg)
	if strings.HasPrefix(msg, "panic") {
		a.l.Error("smtp: " + msg)
		return
	}
	a.l.Debug("smtp: " + msg)
}
