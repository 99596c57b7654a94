package spam

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Features are hashed: a 64-bit FNV-1a of the prefixed token, mixed for
// OSB pairs. Hashes keep the in-memory table compact (no strings) and make
// scoring allocation-light; collisions at 64 bits are negligible for the
// few million features a mailbox produces.

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func hashString(prefix, s string) uint64 {
	return hashMore(hashPrefix(prefix), s)
}

// hashPrefix returns the hash state after prefix and its separator.
func hashPrefix(prefix string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(prefix); i++ {
		h ^= uint64(prefix[i])
		h *= fnvPrime
	}
	h ^= 0xff // separator no prefix can end with
	h *= fnvPrime
	return h
}

func hashMore(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// hashLower hashes strings.ToLower(s) without building it: the tokenizer
// hashes every word, and the allocation was its largest cost.
func hashLower(h uint64, s string) uint64 {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			h ^= uint64(c)
			h *= fnvPrime
			i++
			continue
		}
		r, sz := utf8.DecodeRuneInString(s[i:])
		i += sz
		var buf [utf8.UTFMax]byte
		n := utf8.EncodeRune(buf[:], unicode.ToLower(r))
		for _, b := range buf[:n] {
			h ^= uint64(b)
			h *= fnvPrime
		}
	}
	return h
}

// hashWord is hashString(prefix, normWord(w)) given hashPrefix(prefix).
func hashWord(pstate uint64, w string) uint64 {
	if len(w) > maxWordRunes || (len(w) > 6 && isDigits(w)) {
		if tok := normWord(w); tok != strings.ToLower(w) {
			return hashMore(pstate, tok)
		}
	}
	return hashLower(pstate, w)
}

// mix is splitmix64's finalizer, used to combine pair hashes.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// osbWindow is the OSB window: each word pairs with the 4 words before it,
// the distance being part of the feature (rspamd's orthogonal sparse bigrams).
const osbWindow = 5

// limits bounding the work on one message.
const (
	maxWords     = 6000
	maxTextBytes = 512 << 10
	maxWordRunes = 24
)

// featureSet collects the features of one message.
type featureSet struct {
	feats  []uint64
	words  int
	sorter sortScratch
}

func (fs *featureSet) add(prefix, tok string) {
	fs.feats = append(fs.feats, hashString(prefix, tok))
}

// addText tokenizes text into words, adds each word as a unigram and every
// OSB pair inside the window, all under prefix (e.g. "b" body, "s" subject).
func (fs *featureSet) addText(prefix, text string) {
	var window [osbWindow - 1]uint64 // hashes of the previous words, most recent first
	n := 0
	pfx := hashString("osb", prefix)
	pstate := hashPrefix(prefix)
	casedState := hashPrefix(prefix + "!")
	eachWord(text, func(w string) bool {
		if fs.words >= maxWords {
			return false
		}
		fs.words++
		h := hashWord(pstate, w)
		fs.feats = append(fs.feats, h)
		if hasUpper(w) {
			// The word as written, beside its lower-case form: "FREE",
			// "Free" and "free" say different things (bogofilter also
			// keeps case).
			fs.feats = append(fs.feats, hashMore(casedState, w))
		}
		for d := 0; d < n && d < len(window); d++ {
			fs.feats = append(fs.feats, mix(pfx^window[d]*31^h*17^uint64(d+1)))
		}
		copy(window[1:], window[:len(window)-1])
		window[0] = h
		n++
		return true
	})
}

// eachWord calls fn for each word of text: runs of letters and digits, with
// inner '.', '-', '\”, '_' and '@' kept (domains, prices, contractions) and
// a leading '$' kept. It stops when fn returns false.
func eachWord(text string, fn func(string) bool) {
	i := 0
	for i < len(text) {
		r, sz := utf8.DecodeRuneInString(text[i:])
		if !isWordRune(r) && r != '$' {
			i += sz
			continue
		}
		start := i
		i += sz
		for i < len(text) {
			r, sz = utf8.DecodeRuneInString(text[i:])
			if isWordRune(r) {
				i += sz
				continue
			}
			if r == '.' || r == '-' || r == '\'' || r == '_' || r == '@' {
				// inner punctuation only when a word rune follows
				if i+sz < len(text) {
					if nr, _ := utf8.DecodeRuneInString(text[i+sz:]); isWordRune(nr) {
						i += sz
						continue
					}
				}
			}
			break
		}
		w := text[start:i]
		if w == "$" {
			continue
		}
		if !fn(w) {
			return
		}
	}
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// normWord lowercases w and folds long tokens (base64 runs, hashes) into a
// shape token so they do not flood the table with singletons.
func normWord(w string) string {
	if utf8.RuneCountInString(w) > maxWordRunes {
		r, _ := utf8.DecodeRuneInString(w)
		return "skip:" + string(unicode.ToLower(r)) + ":" + itoa(len(w)/10)
	}
	if isDigits(w) && len(w) > 6 {
		return "num:" + itoa(len(w))
	}
	return strings.ToLower(w)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// unique sorts and deduplicates the features: the filter counts messages
// containing a feature, not occurrences.
func (fs *featureSet) unique() []uint64 {
	fs.sorter.sort(fs.feats)
	return slices.Compact(fs.feats)
}

func hasUpper(w string) bool {
	for i := 0; i < len(w); i++ {
		if w[i] >= 'A' && w[i] <= 'Z' {
			return true
		}
	}
	return false
}
