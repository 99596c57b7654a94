package push

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// glob is a compiled event_match pattern: * matches any run of
// characters, ? one character, case-insensitively. Against content.body
// it matches a whole word run (bounded by the start, the end or a
// character that is not a letter, digit or _), elsewhere the whole value.
type glob struct {
	lit  string         // lower-cased pattern without wildcards
	re   *regexp.Regexp // set when the pattern has wildcards
	word bool
}

func compileGlob(pattern string, word bool) *glob {
	g := &glob{word: word}
	if !strings.ContainsAny(pattern, "*?") {
		g.lit = strings.ToLower(pattern)
		return g
	}
	var b strings.Builder
	b.WriteString(`(?is)`)
	if word {
		b.WriteString(`(?:^|[^\pL\pN_])`)
	} else {
		b.WriteString(`^`)
	}
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(`.*?`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	if word {
		b.WriteString(`(?:[^\pL\pN_]|$)`)
	} else {
		b.WriteString(`$`)
	}
	g.re = regexp.MustCompile(b.String()) // every metacharacter is quoted
	return g
}

// match matches a value of any case.
func (g *glob) match(s string) bool {
	if g.re != nil {
		return g.re.MatchString(s)
	}
	if g.word {
		return containsWord(strings.ToLower(s), g.lit)
	}
	return strings.EqualFold(s, g.lit)
}

// matchLower matches an already lower-cased value.
func (g *glob) matchLower(s string) bool {
	if g.re != nil {
		return g.re.MatchString(s)
	}
	if g.word {
		return containsWord(s, g.lit)
	}
	return s == g.lit
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// containsWord reports whether word occurs in s with a word boundary on
// each side (both lower-cased).
func containsWord(s, word string) bool {
	if word == "" {
		return false
	}
	for from := 0; from <= len(s)-len(word); {
		i := strings.Index(s[from:], word)
		if i < 0 {
			return false
		}
		i += from
		end := i + len(word)
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[end:])
		if (i == 0 || !isWordRune(before)) && (end == len(s) || !isWordRune(after)) {
			return true
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		from = i + size
	}
	return false
}
