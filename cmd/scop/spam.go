package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"scop/cmd/scop/app"
	"scop/mailstack/receiver"
	"scop/mailstack/spam"
)

const spamUsage = `usage: scop spam train --ham DIR --spam DIR [--data DIR]

Learns every message under the --ham and --spam paths (maildirs, folders
of message files, single files or mbox files; each flag may repeat) into
the spam filter of the data folder's mail database. A running
"scop mail receive" picks the new counts up on SIGHUP or at its next start.
`

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runSpam(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "train" {
		fmt.Fprint(os.Stderr, spamUsage)
		return errors.New("spam: missing command train")
	}
	return runSpamTrain(ctx, args[1:], os.Stdout)
}

func runSpamTrain(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("spam train", flag.ContinueOnError)
	data := dataFlag(fs)
	var ham, spm multiFlag
	fs.Var(&ham, "ham", "ham messages: maildir, folder, file or mbox (repeatable)")
	fs.Var(&spm, "spam", "spam messages: maildir, folder, file or mbox (repeatable)")
	quiet := fs.Bool("quiet", false, "no progress output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(ham) == 0 && len(spm) == 0 {
		return errors.New("spam train: give --ham and/or --spam")
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
	store, err := spam.NewSQLiteStore(ctx, db)
	if err != nil {
		return err
	}
	start := time.Now()
	last := time.Time{}
	progress := func(done, total int) {
		if *quiet || (time.Since(last) < 200*time.Millisecond && done != total) {
			return
		}
		last = time.Now()
		fmt.Fprintf(out, "\rtrained %d/%d messages", done, total)
		if done == total {
			fmt.Fprintln(out)
		}
	}
	st, err := spam.TrainPaths(ctx, store, ham, spm, progress)
	if err != nil {
		return fmt.Errorf("spam train: %w", err)
	}
	fmt.Fprintf(out, "learnt %d ham and %d spam messages (%d skipped) in %s\n", st.Ham, st.Spam, st.Skipped, time.Since(start).Round(time.Millisecond))
	return nil
}

func mailPath(dataDir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dataDir, p)
}
