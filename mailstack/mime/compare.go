package mime

import (
	"bytes"
	"fmt"
	"maps"
	"strings"
)

// Diff describes the first difference between a and b as messages:
// structure, header fields in order (names, values with encoded words
// decoded, multipart boundaries ignored), and decoded bodies. It returns
// "" when they are the same message; that is the round-trip property
// parse(encode(m)) ≈ m of the hamlet corpus.
func Diff(a, b *Part) string {
	return diff(a, b, "message")
}

func diff(a, b *Part, path string) string {
	if len(a.Header) != len(b.Header) {
		return fmt.Sprintf("%s: %d header fields, want %d", path, len(b.Header), len(a.Header))
	}
	for i := range a.Header {
		fa, fb := a.Header[i], b.Header[i]
		if !strings.EqualFold(fa.Name, fb.Name) {
			return fmt.Sprintf("%s: field %d is %q, want %q", path, i, fb.Name, fa.Name)
		}
		if strings.EqualFold(fa.Name, "Content-Type") {
			mta, pa, _ := parseContentType(fa.Value)
			mtb, pb, _ := parseContentType(fb.Value)
			delete(pa, "boundary")
			delete(pb, "boundary")
			if mta != mtb || !maps.Equal(pa, pb) {
				return fmt.Sprintf("%s: Content-Type %q, want %q", path, fb.Value, fa.Value)
			}
			continue
		}
		if va, vb := DecodeHeader(fa.Value), DecodeHeader(fb.Value); va != vb {
			return fmt.Sprintf("%s: %s = %q, want %q", path, fa.Name, vb, va)
		}
	}
	if len(a.Children) != len(b.Children) {
		return fmt.Sprintf("%s: %d children, want %d", path, len(b.Children), len(a.Children))
	}
	if len(a.Children) == 0 && !bytes.Equal(a.Body, b.Body) {
		return fmt.Sprintf("%s: body %.60q, want %.60q", path, b.Body, a.Body)
	}
	if !bytes.Equal(a.Preamble, b.Preamble) || !bytes.Equal(a.Epilogue, b.Epilogue) {
		return fmt.Sprintf("%s: preamble/epilogue differ", path)
	}
	for i := range a.Children {
		if d := diff(a.Children[i], b.Children[i], fmt.Sprintf("%s/%d", path, i)); d != "" {
			return d
		}
	}
	return ""
}
