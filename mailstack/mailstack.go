// Package mailstack holds what SCoP's mail components share: the receiver's
// configuration and the error type that carries an SMTP reply. The
// protocols live in subpackages, one RFC each (dns, spf, dkim, dmarc,
// authres), with the spam filter (spam), reputation, MIME (mime), the
// receiver (smtpserver) and the durable spool with LMTP delivery (spool).
//
// mailstack never imports the homeserver: it reaches Matrix only through
// LMTP delivery to the bridge, so it can run alone in front of any LMTP
// server.
package mailstack

import "fmt"

// Error is a failure with an SMTP reply: Code and Enhanced (RFC 3463) go
// to the client with Message, a generic text that reveals no policy or
// configuration detail; Err is the internal cause, for logs only.
type Error struct {
	Code     int
	Enhanced [3]int
	Message  string
	Err      error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%d %d.%d.%d %s", e.Code, e.Enhanced[0], e.Enhanced[1], e.Enhanced[2], e.Message)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether the client should retry later (4xx).
func (e *Error) Temporary() bool { return e.Code >= 400 && e.Code < 500 }
