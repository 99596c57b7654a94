package main

import (
	"fmt"
	"log"
	"sort"
	"strings"

	"scop/mailstack/spam"
)

// runTune searches the scoring parameters on the training set of cv5 fold
// k (index mod 5 != k) by 4-fold cross-validation inside it: each inner
// fold tests one of the other four residues after learning the remaining
// three. Fold k's own test messages are never used. It prints the
// settings that keep false positives at or under 0.1% with the most spam
// caught.
func runTune(files []*corpusFile, k int, base spam.Config) {
	var grid []spam.Config
	for _, s := range []float64{0.25, 0.5, 1} {
		for _, esf := range []float64{1, 0.1} {
			for _, md := range []float64{0.1, 0.2} {
				for _, sc := range []float64{0.9, 0.95, 0.99} {
					c := base
					c.S, c.ESF, c.MinDev, c.SpamCutoff = s, esf, md, sc
					grid = append(grid, c)
				}
			}
		}
	}
	inSet := func(i int) bool { return i%5 != k }
	totals := make([]outcome, len(grid))
	for r := 0; r < 5; r++ {
		if r == k {
			continue
		}
		out, err := runFold(files, func(i int) bool { return i%5 == r }, inSet, grid, false)
		if err != nil {
			log.Fatal(err)
		}
		for i := range out {
			totals[i].add(out[i])
		}
	}
	idx := make([]int, len(grid))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ta, tb := totals[idx[a]], totals[idx[b]]
		okA, okB := ta.fpRate() <= 0.001, tb.fpRate() <= 0.001
		if okA != okB {
			return okA
		}
		if ta.caughtRate() != tb.caughtRate() {
			return ta.caughtRate() > tb.caughtRate()
		}
		return ta.fpRate() < tb.fpRate()
	})
	fmt.Printf("tune on cv5 training set of fold %d (inner 4-fold):\n", k)
	for _, i := range idx[:min(5, len(idx))] {
		c, t := grid[i], totals[i]
		fmt.Printf("  s %.2f x %.2f esf %.2f min_dev %.2f max %d ham<=%.2f spam>=%.2f: FP %d (%.3f%%) caught %.2f%% spam unsure %d ham unsure %d\n",
			c.S, c.X, c.ESF, c.MinDev, c.MaxFeatures, c.HamCutoff, c.SpamCutoff, t.hamT.spam, 100*t.fpRate(), 100*t.caughtRate(), t.spamT.unsure, t.hamT.unsure)
	}
}

// runGrid compares settings on one split by the ranking measure.
func runGrid(files []*corpusFile, split string, base spam.Config, grid string) {
	var cfgs []spam.Config
	for _, g := range strings.Fields(grid) {
		c := base
		if _, err := fmt.Sscanf(strings.ReplaceAll(g, ":", " "), "%g %g %g %d %g", &c.S, &c.X, &c.MinDev, &c.MaxFeatures, &c.ESF); err != nil {
			log.Fatalf("bench: grid %q: %v", g, err)
		}
		cfgs = append(cfgs, c)
	}
	folds, err := splitFolds(split)
	if err != nil {
		log.Fatal(err)
	}
	totals := make([]outcome, len(cfgs))
	for _, isTest := range folds {
		out, err := runFold(files, isTest, func(int) bool { return true }, cfgs, false)
		if err != nil {
			log.Fatal(err)
		}
		for i := range out {
			totals[i].add(out[i])
		}
	}
	for i, c := range cfgs {
		t := totals[i]
		caught, cut := t.atFP()
		fmt.Printf("%s s %.2f x %.2f min_dev %.2f max %d esf %.2f:", split, c.S, c.X, c.MinDev, c.MaxFeatures, c.ESF)
		for _, sc := range []float64{0.8, 0.9, 0.95, 0.99} {
			fp, n := 0, 0
			for _, h := range t.hamScores {
				if h >= sc {
					fp++
				}
			}
			for _, h := range t.spamScores {
				if h >= sc {
					n++
				}
			}
			fmt.Printf(" [%.2f: FP %d %.2f%%]", sc, fp, 100*float64(n)/float64(len(t.spamScores)))
		}
		fmt.Printf(" | ranking %.2f%% above %.6f\n", 100*caught, cut)
	}
}
