package spam

import (
	"bytes"
	"io"
	"net/url"
	"path"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // registers the x/text charsets for decoding
)

// maxDepth bounds multipart nesting (go-message has no limit of its own).
const maxDepth = 16

// textHeaders are tokenized word by word under their own prefix: they
// carry the sender's wording and infrastructure.
var textHeaders = []string{
	"Subject", "From", "To", "Cc", "Reply-To", "Return-Path", "Sender",
	"X-Mailer", "User-Agent", "Content-Type", "List-Id", "Organization",
	"Received", "Message-Id",
}

// ignoredHeaders say nothing about the sender, or are written by filters
// (a corpus trained with them would learn the old filter's verdicts).
var ignoredHeaders = map[string]bool{
	"date": true, "delivered-to": true, "status": true, "x-status": true,
	"x-uid": true, "x-keywords": true, "content-length": true, "lines": true,
	"x-spam": true, "authentication-results": true,
	// written by the recipient's delivery agent, mail client or scanners,
	// not by the sender: in a training corpus they record how and when
	// the collector filed the message, not what the message is.
	"delivery-date": true, "x-uidl": true, "x-imapbase": true, "x-sieve": true,
	"x-original-date": true, "x-antivirus": true, "x-scanned-by": true,
	"x-mailscanner": true, "x-ucsc-cats-mailscanner": true, "x-mailscanner-spamcheck": true,
	"x-reynoldspurgedate": true, "x-pmflags": true, "x-razor-id": true,
}

// ignoredHeader reports whether a header field (lower-case name) is left
// out: see ignoredHeaders; the prefixes are spam and virus scanners' and
// mail clients' families.
func ignoredHeader(name string) bool {
	if ignoredHeaders[name] {
		return true
	}
	for _, p := range []string{"x-spam", "x-bogosity", "x-virus", "x-mozilla-", "x-mailscanner", "x-dspam", "x-razor", "x-pyzor"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// msgTokens holds what one message tokenizes into.
type msgTokens struct {
	fs        featureSet
	dangerous []string
}

// Tokenize returns the sorted, distinct feature hashes of a raw RFC 5322
// message, and the names of dangerous attachments found. It never fails:
// unparsable parts are tokenized as plain text, and a broken multipart
// keeps what was read before the error.
func Tokenize(raw []byte) (features []uint64, dangerous []string) {
	m := &msgTokens{}
	m.tokenize(raw)
	return m.fs.unique(), m.dangerous
}

func (m *msgTokens) tokenize(raw []byte) {
	// mbox files and corpora start with the envelope "From " line.
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		} else {
			raw = nil
		}
	}
	e, err := message.Read(bytes.NewReader(raw))
	if e == nil {
		_ = err
		m.fs.add("x", "unparsable")
		m.addBodyText("b", "text/plain", raw)
		return
	}
	m.addHeaders(e.Header, 0)
	n := len(m.fs.feats)
	m.walk(e, 0)
	markHeader(m.fs.feats[:n], m.fs.feats[n:])
}

// markHeader sets the lowest bit of the top-level header's features and
// clears it on the body's, so that the classifier can hold header evidence
// to a stricter standard (Config.HeaderMinDev). The bit costs one of 64
// hash bits.
func markHeader(header, body []uint64) {
	for i := range header {
		header[i] |= 1
	}
	for i := range body {
		body[i] &^= 1
	}
}

func (m *msgTokens) addHeaders(h message.Header, depth int) {
	if depth > 0 {
		// Inner parts: only their content description matters.
		if ct := h.Get("Content-Type"); ct != "" {
			m.fs.addText("pct", ct)
		}
		return
	}
	fields := h.Fields()
	for fields.Next() {
		name := strings.ToLower(fields.Key())
		if ignoredHeader(name) {
			continue
		}
		m.fs.add("hdr", name)
	}
	for _, k := range textHeaders {
		prefix := "h:" + strings.ToLower(k)
		for f := h.FieldsByKey(k); f.Next(); {
			v, err := f.Text()
			if err != nil {
				v = f.Value()
			}
			if k == "Subject" {
				m.fs.addText("s", v)
				continue
			}
			m.fs.addText(prefix, v)
		}
	}
}

// walk tokenizes the entity's body, recursing into multiparts.
func (m *msgTokens) walk(e *message.Entity, depth int) {
	if depth > maxDepth {
		m.fs.add("x", "deep-nesting")
		return
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return
			}
			if p == nil {
				// Unterminated or malformed multipart: keep what we have.
				m.fs.add("x", "broken-multipart")
				return
			}
			m.addHeaders(p.Header, depth+1)
			m.walk(p, depth+1)
		}
	}
	mediaType, params, _ := e.Header.ContentType()
	if mediaType == "" {
		mediaType = "text/plain"
	}
	if name := attachmentName(e.Header, params); name != "" {
		m.fs.add("att", mediaType)
		m.fs.addText("attname", name)
		if why := dangerousName(name); why != "" {
			m.dangerous = append(m.dangerous, name)
			m.fs.add("danger", why)
		}
	}
	if why := dangerousType(mediaType); why != "" {
		m.dangerous = append(m.dangerous, mediaType)
		m.fs.add("danger", why)
	}
	m.fs.add("ct", mediaType)
	if !strings.HasPrefix(mediaType, "text/") && mediaType != "message/rfc822" {
		return
	}
	body, _ := io.ReadAll(io.LimitReader(e.Body, maxTextBytes))
	if mediaType == "message/rfc822" {
		inner, err := message.Read(bytes.NewReader(body))
		if inner != nil {
			m.addHeaders(inner.Header, depth+1)
			m.walk(inner, depth+1)
		}
		_ = err
		return
	}
	m.addBodyText("b", mediaType, body)
}

func attachmentName(h message.Header, ctParams map[string]string) string {
	if _, p, err := h.ContentDisposition(); err == nil && p["filename"] != "" {
		return p["filename"]
	}
	return ctParams["name"]
}

func (m *msgTokens) addBodyText(prefix, mediaType string, body []byte) {
	text := string(body)
	if mediaType == "text/html" || (mediaType == "text/plain" && looksHTML(body)) {
		var links []string
		var tags []string
		text, links, tags = stripHTML(text)
		m.fs.add("x", "html")
		for _, t := range tags {
			m.fs.add("tag", t)
		}
		for _, l := range links {
			m.addURL(l)
		}
	}
	for _, u := range findURLs(text, 200) {
		m.addURL(u)
	}
	m.fs.addText(prefix, text)
}

// findURLs returns up to max URLs written in text: http://, https:// or
// www. up to the next space, quote, bracket or angle bracket. A plain scan:
// a regexp cost a third of the tokenizer's time.
func findURLs(text string, max int) []string {
	var out []string
	for i := 0; i+4 <= len(text) && len(out) < max; i++ {
		c := text[i] | 0x20
		if c != 'h' && c != 'w' {
			continue
		}
		if i > 0 && isASCIIWordByte(text[i-1]) {
			continue
		}
		n := 0
		switch {
		case hasPrefixFold(text[i:], "http://"):
			n = 7
		case hasPrefixFold(text[i:], "https://"):
			n = 8
		case hasPrefixFold(text[i:], "www."):
			n = 4
		default:
			continue
		}
		j := i + n
		for j < len(text) && !strings.ContainsRune(" \t\r\n\"'<>()[]", rune(text[j])) {
			j++
		}
		if j > i+n {
			out = append(out, text[i:j])
		}
		i = j
	}
	return out
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func isASCIIWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// addURL adds the URL's host, every parent domain and its path words.
func (m *msgTokens) addURL(raw string) {
	raw = strings.TrimSpace(raw)
	if strings.HasPrefix(strings.ToLower(raw), "www.") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		if strings.HasPrefix(strings.ToLower(raw), "mailto:") {
			m.fs.add("url", "mailto")
		}
		return
	}
	m.fs.add("url", "scheme:"+strings.ToLower(u.Scheme))
	host := strings.ToLower(u.Hostname())
	if isIPHost(host) {
		m.fs.add("url", "ip-host")
	}
	for d := host; d != ""; {
		m.fs.add("url", d)
		_, rest, ok := strings.Cut(d, ".")
		if !ok {
			break
		}
		d = rest
	}
	if u.Port() != "" {
		m.fs.add("url", "port")
	}
	for _, seg := range strings.Split(path.Clean(u.Path), "/") {
		if seg != "" && seg != "." && len(seg) <= 40 {
			m.fs.add("urlp", strings.ToLower(seg))
		}
	}
}

func isIPHost(h string) bool {
	if strings.Contains(h, ":") {
		return true
	}
	for i := 0; i < len(h); i++ {
		if (h[i] < '0' || h[i] > '9') && h[i] != '.' {
			return false
		}
	}
	return h != ""
}

func looksHTML(b []byte) bool {
	head := b
	if len(head) > 2048 {
		head = head[:2048]
	}
	l := bytes.ToLower(head)
	return bytes.Contains(l, []byte("<html")) || bytes.Contains(l, []byte("<body")) || bytes.Contains(l, []byte("<br"))
}
