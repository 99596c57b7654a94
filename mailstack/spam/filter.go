// Package spam is SCoP's Bayesian spam filter: Robinson's f(w) with
// Fisher's chi-square combining (Robinson-Fisher, as in SpamBayes and
// bogofilter) over word and OSB word-pair features of decoded headers and
// bodies. Counts live in memory for scoring and are written through to a
// Store (SQLite) in batches.
package spam

import (
	"context"
	"fmt"
	"math"
	"sync"
)

// Verdict is the filter's three-way answer.
type Verdict string

// The verdicts: ham at or below Config.HamCutoff, spam at or above
// Config.SpamCutoff, unsure between.
const (
	Ham    Verdict = "ham"
	Unsure Verdict = "unsure"
	Spam   Verdict = "spam"
)

// Config tunes the classifier (the `spam:` section of scop.yaml).
// DefaultConfig holds values measured on the SpamAssassin corpus (see
// BENCHMARKS.md).
type Config struct {
	// HamCutoff: scores at or below are ham.
	HamCutoff float64 `yaml:"ham_cutoff"`
	// SpamCutoff: scores at or above are spam; between the two, unsure.
	SpamCutoff float64 `yaml:"spam_cutoff"`
	// S and X are Robinson's strength and assumed probability of unknown words.
	S float64 `yaml:"robinson_s"`
	X float64 `yaml:"robinson_x"`
	// MinDev drops features whose f(w) is within MinDev of 0.5: they are noise.
	MinDev float64 `yaml:"min_dev"`
	// HeaderMinDev is MinDev for features of the top-level header (0: the
	// same as MinDev). Mailing lists relay spam with their own, very
	// hammy, headers: only strong header evidence may outvote the body.
	HeaderMinDev float64 `yaml:"header_min_dev"`
	// ESF is the effective size factor (0 < ESF <= 1; 0 means 1): word and
	// word-pair features are far from independent, so n features carry the
	// evidence of about ESF*n independent ones. Fisher's combination is
	// computed over that effective count, which keeps scores of messages
	// with mixed evidence away from 0 and 1.
	ESF float64 `yaml:"esf"`
	// MaxFeatures keeps only the most extreme features of a message (0: all).
	MaxFeatures int `yaml:"max_features"`
	// MinTrained: below this many ham or spam messages learnt, every
	// message is unsure: the statistics mean nothing yet.
	MinTrained int `yaml:"min_trained"`
	// DangerousScore is the score given to a message with a dangerous
	// attachment, if higher than its Bayesian score.
	DangerousScore float64 `yaml:"dangerous_score"`
}

// Validate reports the first setting out of range, by its YAML key.
func (c Config) Validate() error {
	switch {
	case c.HamCutoff < 0 || c.HamCutoff >= 1:
		return fmt.Errorf("spam.ham_cutoff %v: want 0 <= ham_cutoff < 1", c.HamCutoff)
	case c.SpamCutoff <= c.HamCutoff || c.SpamCutoff > 1:
		return fmt.Errorf("spam.spam_cutoff %v: want ham_cutoff < spam_cutoff <= 1", c.SpamCutoff)
	case c.S <= 0:
		return fmt.Errorf("spam.robinson_s %v: want > 0", c.S)
	case c.X <= 0 || c.X >= 1:
		return fmt.Errorf("spam.robinson_x %v: want 0 < x < 1", c.X)
	case c.MinDev < 0 || c.MinDev >= 0.5:
		return fmt.Errorf("spam.min_dev %v: want 0 <= min_dev < 0.5", c.MinDev)
	case c.HeaderMinDev < 0 || c.HeaderMinDev >= 0.5:
		return fmt.Errorf("spam.header_min_dev %v: want 0 <= header_min_dev < 0.5", c.HeaderMinDev)
	case c.ESF < 0 || c.ESF > 1:
		return fmt.Errorf("spam.esf %v: want 0 < esf <= 1 (0: 1)", c.ESF)
	case c.MaxFeatures < 0:
		return fmt.Errorf("spam.max_features %d: want >= 0", c.MaxFeatures)
	case c.MinTrained < 0:
		return fmt.Errorf("spam.min_trained %d: want >= 0", c.MinTrained)
	case c.DangerousScore < 0 || c.DangerousScore > 1:
		return fmt.Errorf("spam.dangerous_score %v: want 0..1", c.DangerousScore)
	}
	return nil
}

// DefaultConfig returns the tuned defaults.
func DefaultConfig() Config {
	// Chosen by nested cross-validation on the SpamAssassin corpus (the
	// best sum of the inner validations, mailstack/spam/BENCHMARKS.md).
	return Config{
		HamCutoff:      0.30,
		SpamCutoff:     0.70,
		S:              0.25,
		X:              0.5,
		ESF:            1,
		MinDev:         0.2,
		HeaderMinDev:   0.4,
		MaxFeatures:    0,
		MinTrained:     10,
		DangerousScore: 0.999,
	}
}

// Result is the classification of one message.
type Result struct {
	Verdict Verdict
	// Score is the combined spam probability in [0,1].
	Score float64
	// Features is how many features entered the combination.
	Features int
	// Dangerous lists dangerous attachments (names or types) found.
	Dangerous []string
}

type counts struct{ ham, spam uint32 }

// Filter classifies and learns messages. It is safe for concurrent use.
type Filter struct {
	cfg   Config
	store Store

	learnMu    sync.Mutex
	mu         sync.RWMutex
	tokens     map[uint64]counts
	nham, nspm int
}

// New loads every count from store into memory and returns a ready Filter.
func New(ctx context.Context, store Store, cfg Config) (*Filter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := &Filter{cfg: cfg, store: store, tokens: map[uint64]counts{}}
	nham, nspam, err := store.Load(ctx, func(h uint64, ham, spam uint32) {
		f.tokens[h] = counts{ham, spam}
	})
	if err != nil {
		return nil, fmt.Errorf("spam: load: %w", err)
	}
	f.nham, f.nspm = nham, nspam
	return f, nil
}

// Trained returns how many ham and spam messages the filter has learnt.
func (f *Filter) Trained() (ham, spam int) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.nham, f.nspm
}

// Classify scores a raw message.
func (f *Filter) Classify(raw []byte) Result {
	// The feature buffers of a message are large (tens of KB) and dead
	// once it is scored: reuse them, as the receiver scores every message.
	m := tokensPool.Get().(*msgTokens)
	m.tokenize(raw)
	res := f.ClassifyFeatures(m.fs.unique(), m.dangerous)
	m.fs = featureSet{feats: m.fs.feats[:0], sorter: m.fs.sorter}
	m.dangerous = nil
	tokensPool.Put(m)
	return res
}

var tokensPool = sync.Pool{New: func() any { return new(msgTokens) }}

// SetConfig replaces the classifier settings of a running filter (e.g. on
// configuration reload); the learnt counts are kept.
func (f *Filter) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	f.cfg = cfg
	f.mu.Unlock()
	return nil
}

// ClassifyFeatures scores a message already tokenized by Tokenize, so that
// a caller scoring one message under several settings tokenizes it once.
func (f *Filter) ClassifyFeatures(feats []uint64, dangerous []string) Result {
	f.mu.RLock()
	cfg := f.cfg
	nham, nspam := float64(f.nham), float64(f.nspm)
	probs := make([]float64, 0, len(feats))
	hdrDev := cfg.HeaderMinDev
	if hdrDev == 0 {
		hdrDev = cfg.MinDev
	}
	if f.nham > 0 && f.nspm > 0 {
		for _, h := range feats {
			c, ok := f.tokens[h]
			if !ok {
				continue
			}
			p := cfg.robinson(float64(c.ham), float64(c.spam), nham, nspam)
			minDev := cfg.MinDev
			if h&1 == 1 {
				minDev = max(minDev, hdrDev)
			}
			if math.Abs(p-0.5) >= minDev {
				probs = append(probs, p)
			}
		}
	}
	enough := f.nham >= cfg.MinTrained && f.nspm >= cfg.MinTrained
	f.mu.RUnlock()

	res := Result{Score: 0.5, Dangerous: dangerous}
	if enough {
		probs = extremes(probs, cfg.MaxFeatures)
		res.Features = len(probs)
		res.Score = fisher(probs, cfg.ESF)
	}
	if len(dangerous) > 0 && res.Score < cfg.DangerousScore {
		res.Score = cfg.DangerousScore
	}
	switch {
	case res.Score >= cfg.SpamCutoff:
		res.Verdict = Spam
	case res.Score <= cfg.HamCutoff && (enough || len(dangerous) > 0):
		res.Verdict = Ham
	default:
		res.Verdict = Unsure
	}
	return res
}

// robinson is Robinson's f(w): the Graham probability p(w) =
// b/(b+g) with b, g the spam and ham frequencies, pulled towards X with
// strength S when the word has been seen in few messages.
func (c Config) robinson(ham, spam, nham, nspam float64) float64 {
	b := spam / nspam
	g := ham / nham
	p := b / (b + g)
	n := ham + spam
	return (c.S*c.X + n*p) / (c.S + n)
}

// extremes keeps the max features whose probabilities lie farthest from 0.5.
func extremes(probs []float64, max int) []float64 {
	if max <= 0 || len(probs) <= max {
		return probs
	}
	// Partial selection: sort by distance, descending. n log n is fine at
	// a few thousand features.
	sortByDev(probs)
	return probs[:max]
}

// fisher combines probabilities with Fisher's method (Robinson 2003):
// S = 1 - C⁻¹(-2 Σ ln(1-f), 2n) measures spamminess, H = 1 - C⁻¹(-2 Σ ln f, 2n)
// hamminess, and the score is (1 + S - H) / 2.
//
// With an effective size factor esf in (0,1), both log sums are scaled by
// esf and the degrees of freedom become 2*round(esf*n).
func fisher(probs []float64, esf float64) float64 {
	if len(probs) == 0 {
		return 0.5
	}
	if esf <= 0 || esf > 1 {
		esf = 1
	}
	var lnSpam, lnHam float64
	for _, p := range probs {
		p = math.Min(math.Max(p, 1e-12), 1-1e-12)
		lnHam += math.Log(p)
		lnSpam += math.Log(1 - p)
	}
	n := max(1, int(math.Round(esf*float64(len(probs)))))
	lnSpam *= esf
	lnHam *= esf
	s := 1 - chi2Q(-2*lnSpam, 2*n)
	h := 1 - chi2Q(-2*lnHam, 2*n)
	return (1 + s - h) / 2
}

// chi2Q is the survival function of the chi-square distribution with an
// even number v of degrees of freedom: P(X ≥ x) = e^(-m) Σ_{i<v/2} m^i/i!
// with m = x/2. The series is summed in linear space, rescaled before it
// can overflow, and stopped once further terms cannot change the sum: the
// log-space version cost a log and an exp per feature.
func chi2Q(x float64, v int) float64 {
	m := x / 2
	if m <= 0 {
		return 1
	}
	const scale = 1e200
	logScale := 0.0
	term, sum := 1.0, 1.0
	for i := 1; i < v/2; i++ {
		term *= m / float64(i)
		sum += term
		if sum > scale {
			term /= scale
			sum /= scale
			logScale += math.Log(scale)
		}
		if float64(i) > m && term < sum*1e-17 {
			break // terms only shrink from here
		}
	}
	return math.Min(math.Exp(-m+math.Log(sum)+logScale), 1)
}
