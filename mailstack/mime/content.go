package mime

import (
	stdmime "mime"
	"strings"
)

// Disposition returns the lower-case Content-Disposition type (inline,
// attachment, or "" when absent) and its parameters, RFC 2231 continued
// and encoded values decoded.
func (p *Part) Disposition() (string, map[string]string) {
	v := p.Header.Get("Content-Disposition")
	if v == "" {
		return "", map[string]string{}
	}
	d, params, err := stdmime.ParseMediaType(v)
	if err != nil {
		d, params, _ = parseContentType(v)
		if !strings.Contains(v, "/") {
			d = strings.ToLower(strings.TrimSpace(strings.Split(v, ";")[0]))
		}
	}
	return strings.ToLower(d), params
}

// Filename returns the part's file name: the Content-Disposition filename
// (RFC 2183, RFC 2231), else the Content-Type name parameter; RFC 2047
// encoded words, which many mailers use there, are decoded.
func (p *Part) Filename() string {
	_, dp := p.Disposition()
	name := dp["filename"]
	if name == "" {
		_, cp := p.MediaType()
		name = cp["name"]
	}
	return DecodeHeader(name)
}

// IsAttachment reports whether a leaf part is meant as a file rather than
// as the message text: disposition attachment, a file name, or a
// non-text, non-multipart type.
func (p *Part) IsAttachment() bool {
	if len(p.Children) > 0 {
		return false
	}
	d, _ := p.Disposition()
	if d == "attachment" || p.Filename() != "" {
		return true
	}
	mt, _ := p.MediaType()
	return !strings.HasPrefix(mt, "text/")
}

// Bodies returns the message text in UTF-8: the text/plain and text/html
// parts that are not attachments. In a multipart/alternative the last
// part of each type wins (the sender's preferred form, RFC 2046 §5.1.4);
// elsewhere texts of the same type are joined. Embedded messages
// (message/rfc822) are not descended into.
func (p *Part) Bodies() (plain, html string) {
	var walk func(q *Part)
	walk = func(q *Part) {
		mt, _ := q.MediaType()
		switch {
		case mt == "message/rfc822" && q != p:
			return
		case mt == "multipart/alternative":
			var pl, ht string
			for _, c := range q.Children {
				cp, ch := c.Bodies()
				if cp != "" {
					pl = cp
				}
				if ch != "" {
					ht = ch
				}
			}
			plain, html = join(plain, pl), join(html, ht)
			return
		case len(q.Children) > 0:
			for _, c := range q.Children {
				walk(c)
			}
			return
		case q.IsAttachment():
			return
		}
		text, _ := q.Text()
		if mt == "text/html" {
			html = join(html, text)
		} else if mt == "text/plain" || mt == "" {
			plain = join(plain, text)
		}
	}
	walk(p)
	return plain, html
}

func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "\n" + b
}

// Attachment is a file carried by a message.
type Attachment struct {
	Filename  string
	MediaType string
	// ContentID is the Content-ID without angle brackets (for inline
	// images referenced as cid: from HTML).
	ContentID string
	Inline    bool
	Content   []byte
}

// Attachments returns the attachment leaves of p, in order, not looking
// inside embedded messages.
func (p *Part) Attachments() []Attachment {
	var out []Attachment
	var walk func(q *Part)
	walk = func(q *Part) {
		mt, _ := q.MediaType()
		if mt == "message/rfc822" && q != p {
			return
		}
		for _, c := range q.Children {
			walk(c)
		}
		if len(q.Children) > 0 || !q.IsAttachment() {
			return
		}
		d, _ := q.Disposition()
		out = append(out, Attachment{
			Filename:  q.Filename(),
			MediaType: mt,
			ContentID: strings.Trim(q.Header.Get("Content-ID"), "<> "),
			Inline:    d == "inline",
			Content:   q.Body,
		})
	}
	walk(p)
	return out
}
