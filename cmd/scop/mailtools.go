package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"scop/cmd/scop/app"
	"scop/mailstack/mime"
	"scop/mailstack/receiver"
	"scop/mailstack/reputation"
)

// runMailBlocklist lists scored senders, and with --cidr-file writes the
// blocked IP prefixes for a firewall set (by atomic rename).
func runMailBlocklist(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("mail blocklist", flag.ContinueOnError)
	data := dataFlag(fs)
	cidrFile := fs.String("cidr-file", "", "write the blocked IP prefixes, one CIDR per line, to this file")
	all := fs.Bool("all", false, "list every scored sender, not only the blocked ones")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := app.LoadConfig(*data)
	if err != nil {
		return err
	}
	db, err := receiver.OpenMailDB(mailPath(cfg.DataDir, cfg.Mail.Database))
	if err != nil {
		return err
	}
	defer db.Close()
	rep, err := reputation.Open(ctx, db, cfg.Mail.Reputation)
	if err != nil {
		return err
	}
	min := cfg.Mail.Reputation.Threshold
	if *all {
		min = 0
	}
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tSENDER\tSCORE\tEVENTS\tLAST SEEN\tBLOCKED")
	entries := rep.List(min)
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%d\t%s\t%v\n", e.Kind, e.Key, e.Score, e.Events, e.LastSeen.UTC().Format(time.RFC3339), e.Blocked)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d sender(s)\n", len(entries))
	if *cidrFile == "" {
		return nil
	}
	var b bytes.Buffer
	n, err := rep.WriteCIDRs(&b)
	if err != nil {
		return err
	}
	tmp := *cidrFile + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("mail blocklist: %w", err)
	}
	if err := os.Rename(tmp, *cidrFile); err != nil {
		return fmt.Errorf("mail blocklist: %w", err)
	}
	fmt.Fprintf(out, "wrote %d prefix(es) to %s\n", n, *cidrFile)
	return nil
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
