package spam

import (
	"html"
	"strings"
)

// stripHTML returns the visible text of an HTML document, the URLs of its
// links and images, and the distinct tag names used. It is a tolerant
// scanner, not a parser: mail HTML is rarely well formed, and all we need
// is words. Script and style contents are dropped.
func stripHTML(s string) (text string, links, tags []string) {
	var b strings.Builder
	seen := map[string]bool{}
	i := 0
	for i < len(s) {
		lt := strings.IndexByte(s[i:], '<')
		if lt < 0 {
			b.WriteString(s[i:])
			break
		}
		b.WriteString(s[i : i+lt])
		i += lt
		if strings.HasPrefix(s[i:], "<!--") {
			end := strings.Index(s[i+4:], "-->")
			if end < 0 {
				break
			}
			i += 4 + end + 3
			continue
		}
		gt := strings.IndexByte(s[i:], '>')
		if gt < 0 {
			b.WriteString(s[i:]) // a stray '<' in text
			break
		}
		tag := s[i+1 : i+gt]
		i += gt + 1
		name := tagName(tag)
		if name == "" {
			continue
		}
		if !seen[name] && len(tags) < 64 {
			seen[name] = true
			tags = append(tags, name)
		}
		for _, attr := range []string{"href", "src", "action"} {
			if v := attrValue(tag, attr); v != "" && len(links) < 200 {
				links = append(links, html.UnescapeString(v))
			}
		}
		if alt := attrValue(tag, "alt"); alt != "" {
			b.WriteString(" " + alt + " ")
		}
		if name == "script" || name == "style" {
			end := strings.Index(strings.ToLower(s[i:]), "</"+name)
			if end < 0 {
				break
			}
			i += end
			continue
		}
		b.WriteByte(' ')
	}
	return html.UnescapeString(b.String()), links, tags
}

// tagName returns the lower-case name of a tag body ("a href=..." → "a"),
// "" for closing tags and declarations.
func tagName(tag string) string {
	if tag == "" || tag[0] == '/' || tag[0] == '!' || tag[0] == '?' {
		return ""
	}
	end := strings.IndexAny(tag, " \t\r\n/")
	if end < 0 {
		end = len(tag)
	}
	name := strings.ToLower(tag[:end])
	if len(name) > 16 {
		return ""
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return ""
		}
	}
	return name
}

// attrValue returns the value of attribute attr in a tag body, quoted or not.
func attrValue(tag, attr string) string {
	low := strings.ToLower(tag)
	from := 0
	for {
		j := strings.Index(low[from:], attr)
		if j < 0 {
			return ""
		}
		j += from
		from = j + len(attr)
		if j > 0 && !isSpace(low[j-1]) {
			continue
		}
		k := from
		for k < len(low) && isSpace(low[k]) {
			k++
		}
		if k >= len(low) || low[k] != '=' {
			continue
		}
		k++
		for k < len(low) && isSpace(low[k]) {
			k++
		}
		if k >= len(low) {
			return ""
		}
		if q := tag[k]; q == '"' || q == '\'' {
			end := strings.IndexByte(tag[k+1:], q)
			if end < 0 {
				return tag[k+1:]
			}
			return tag[k+1 : k+1+end]
		}
		end := strings.IndexAny(tag[k:], " \t\r\n>")
		if end < 0 {
			return tag[k:]
		}
		return tag[k : k+end]
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
