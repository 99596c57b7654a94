package main

import (
	"fmt"
	"log"
	"sort"
	"strings"

	"scop/mailstack/spam"
)

// tuneGrid is the parameter grid searched by runTune.
func tuneGrid(base spam.Config) []spam.Config {
	var grid []spam.Config
	for _, s := range []float64{0.25} {
		for _, hmd := range []float64{0.3, 0.4, 0.45} {
			for _, md := range []float64{0.1, 0.2} {
				for _, sc := range []float64{0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99} {
					c := base
					c.S, c.HeaderMinDev, c.MinDev, c.SpamCutoff = s, hmd, md, sc
					grid = append(grid, c)
				}
			}
		}
	}
	return grid
}

// better orders inner-validation outcomes: false positives at or under
// 0.1% first, then the most spam caught, then the fewest false positives.
func better(a, b outcome) bool {
	okA, okB := a.fpRate() <= 0.001, b.fpRate() <= 0.001
	if okA != okB {
		return okA
	}
	if a.caughtRate() != b.caughtRate() {
		return a.caughtRate() > b.caughtRate()
	}
	return a.fpRate() < b.fpRate()
}

// runTune is nested cross-validation. For each cv5 fold k (or only fold
// only, if >= 0) it searches tuneGrid on fold k's training set (index mod 5
// != k) by 4-fold cross-validation inside it, picks the best setting by
// better, and tests fold k with it: fold k's test messages never take
// part in choosing. It prints each fold's choice, the nested-CV total,
// and the inner results summed over the folds, from which one fixed
// default is chosen.
func runTune(files []*corpusFile, only int, base spam.Config) {
	grid := tuneGrid(base)
	sum := make([]outcome, len(grid))
	var nested outcome
	for k := 0; k < 5; k++ {
		if only >= 0 && k != only {
			continue
		}
		inSet := func(i int) bool { return i%5 != k }
		inner := make([]outcome, len(grid))
		for r := 0; r < 5; r++ {
			if r == k {
				continue
			}
			out, err := runFold(files, func(i int) bool { return i%5 == r }, inSet, grid, false)
			if err != nil {
				log.Fatal(err)
			}
			for i := range out {
				inner[i].add(out[i])
				sum[i].add(out[i])
			}
		}
		best := 0
		for i := range grid {
			if better(inner[i], inner[best]) {
				best = i
			}
		}
		c, t := grid[best], inner[best]
		out, err := runFold(files, func(i int) bool { return i%5 == k }, func(int) bool { return true }, []spam.Config{c}, false)
		if err != nil {
			log.Fatal(err)
		}
		nested.add(out[0])
		fmt.Printf("fold %d: chose s %.2f esf %.2f min_dev %.2f header_min_dev %.2f spam>=%.2f (inner FP %.3f%% caught %.2f%%); fold test FP %d/%d caught %.2f%%\n",
			k, c.S, c.ESF, c.MinDev, c.HeaderMinDev, c.SpamCutoff, 100*t.fpRate(), 100*t.caughtRate(),
			out[0].hamT.spam, len(out[0].hamScores), 100*out[0].caughtRate())
	}
	report("nested-cv5", 5, nested)
	idx := make([]int, len(grid))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return better(sum[idx[a]], sum[idx[b]]) })
	fmt.Println("inner results summed over the folds, best first:")
	for _, i := range idx[:min(8, len(idx))] {
		c, t := grid[i], sum[i]
		fmt.Printf("  s %.2f esf %.2f min_dev %.2f header_min_dev %.2f spam>=%.2f: FP %d (%.3f%%) caught %.2f%%\n",
			c.S, c.ESF, c.MinDev, c.HeaderMinDev, c.SpamCutoff, t.hamT.spam, 100*t.fpRate(), 100*t.caughtRate())
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
