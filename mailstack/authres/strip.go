package authres

import (
	"bytes"
	"strings"
)

// StripForged removes from msg's header every Authentication-Results field
// whose authserv-id is authservID (compared case-insensitively), and every
// one we cannot parse, since a reader with a laxer parser might take it for
// ours (RFC 8601 §5). It returns the message and the number of fields removed.
// The body is returned unchanged.
func StripForged(msg []byte, authservID string) ([]byte, int) {
	end := headerEnd(msg)
	hdr := msg[:end]
	var out bytes.Buffer
	removed := 0
	for len(hdr) > 0 {
		f := nextField(hdr)
		field := hdr[:f]
		hdr = hdr[f:]
		name, value, ok := bytes.Cut(field, []byte(":"))
		if ok && strings.EqualFold(strings.TrimSpace(string(name)), "Authentication-Results") {
			id, err := AuthServID(string(value))
			if err != nil || strings.EqualFold(strings.TrimSuffix(id, "."), strings.TrimSuffix(authservID, ".")) {
				removed++
				continue
			}
		}
		out.Write(field)
	}
	if removed == 0 {
		return msg, 0
	}
	out.Write(msg[end:])
	return out.Bytes(), removed
}

// headerEnd returns the offset of the blank line ending the header (the
// blank line belongs to the body part), or len(msg) without one.
func headerEnd(msg []byte) int {
	off := 0
	for off < len(msg) {
		nl := bytes.IndexByte(msg[off:], '\n')
		line := msg[off:]
		if nl >= 0 {
			line = msg[off : off+nl+1]
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return off
		}
		off += len(line)
	}
	return len(msg)
}

// nextField returns the length of the first field of hdr, continuation lines included.
func nextField(hdr []byte) int {
	off := 0
	for {
		nl := bytes.IndexByte(hdr[off:], '\n')
		if nl < 0 {
			return len(hdr)
		}
		off += nl + 1
		if off >= len(hdr) || (hdr[off] != ' ' && hdr[off] != '\t') {
			return off
		}
	}
}
