package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"scop/mailstack/mime"
)

func runMailBlocklist(ctx context.Context, args []string, out io.Writer) error {
	return errors.New("mail blocklist: the reputation store is not wired in yet")
}

// runMailCorpus writes N generated messages, DIR/000000.eml onwards; the
// same seed writes the same corpus.
func runMailCorpus(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("mail corpus", flag.ContinueOnError)
	dir := fs.String("out", "corpus", "output folder")
	seed := fs.Uint64("seed", 0, "random seed")
	// Accept N before or after the flags.
	var nArg string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		nArg, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if nArg == "" && fs.NArg() > 0 {
		nArg = fs.Arg(0)
	}
	n, err := strconv.Atoi(nArg)
	if err != nil || n < 0 {
		return fmt.Errorf("mail corpus: need a message count N, got %q", nArg)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return fmt.Errorf("mail corpus: %w", err)
	}
	rng := rand.New(rand.NewPCG(*seed, 0))
	for i := range n {
		name := filepath.Join(*dir, fmt.Sprintf("%06d.eml", i))
		if err := os.WriteFile(name, mime.Generate(rng).Encode(), 0o644); err != nil {
			return fmt.Errorf("mail corpus: %w", err)
		}
	}
	fmt.Fprintf(out, "wrote %d messages to %s (seed %d)\n", n, *dir, *seed)
	return nil
}
