package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"scop/cmd/scop/app"
	"scop/mailstack/receiver"
	"scop/mailstack/spool"
)

const mailUsage = `usage: scop mail <command> [flags]

commands:
  receive [--data DIR] [--listen ADDR]   run the SMTP receiver alone
  queue [--data DIR]                     list spooled messages and dead letters
  blocklist [--data DIR] [--cidr-file F] list blocked senders
  corpus N [--out DIR] [--seed S]        write N random RFC 5322 messages
`

func runMail(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, mailUsage)
		return errors.New("mail: missing command")
	}
	switch args[0] {
	case "receive":
		return runMailReceive(ctx, args[1:])
	case "queue":
		return runMailQueue(args[1:], os.Stdout)
	case "blocklist":
		return runMailBlocklist(ctx, args[1:], os.Stdout)
	case "corpus":
		return runMailCorpus(args[1:], os.Stdout)
	case "help", "-h", "--help":
		fmt.Print(mailUsage)
		return nil
	}
	return fmt.Errorf("mail: unknown command %q\n\n%s", args[0], mailUsage)
}

// MailListenFile is written into the data folder, by atomic rename, once
// `scop mail receive` has bound its SMTP listener.
const MailListenFile = "mail-listen.json"

func runMailReceive(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mail receive", flag.ContinueOnError)
	data := dataFlag(fs)
	listen := fs.String("listen", "", "SMTP address (default mail.listen, 127.0.0.1:2525)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := app.LoadConfig(*data)
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg.Log, os.Stderr)
	mailboxes, closeDB := openMailboxes(cfg.DataDir, log)
	defer closeDB()
	r, err := receiver.New(receiver.Options{
		Config:     cfg.Mail,
		DataDir:    cfg.DataDir,
		ServerName: cfg.ServerName,
		Mailboxes:  mailboxes,
		Log:        log,
	})
	if err != nil {
		return err
	}
	if err := r.Start(ctx, *listen); err != nil {
		return err
	}
	if err := writeListenFile(filepath.Join(cfg.DataDir, MailListenFile), map[string]string{"smtp": r.Addr().String()}); err != nil {
		r.Close(context.Background())
		return err
	}
	// SIGHUP reloads the spam filter's counts, e.g. after scop spam train.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-hup:
			if r.Checks != nil && r.Checks.Spam != nil {
				if err := r.Checks.Spam.Reload(ctx); err != nil {
					log.Error("spam filter reload failed", "err", err)
				} else {
					ham, spm := r.Checks.Spam.Trained()
					log.Info("spam filter reloaded", "ham", ham, "spam", spm)
				}
			}
		}
	}
	log.Info("mail receiver shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return r.Close(sctx)
}

// noMailboxes is used when there is no homeserver database: every
// recipient is unknown (550 5.1.1) until accounts exist.
type noMailboxes struct{}

func (noMailboxes) Exists(context.Context, string) (bool, error) { return false, nil }

func openMailboxes(dataDir string, log *slog.Logger) (receiver.Mailboxes, func()) {
	path := filepath.Join(dataDir, "homeserver.db")
	if _, err := os.Stat(path); err != nil {
		log.Warn("no homeserver database: no mailbox exists yet", "path", path)
		return noMailboxes{}, func() {}
	}
	db, err := receiver.OpenAccountsDB(path)
	if err != nil {
		log.Warn("cannot open homeserver database: no mailbox exists", "err", err)
		return noMailboxes{}, func() {}
	}
	return &receiver.AccountsMailboxes{DB: db}, func() { db.Close() }
}

func writeListenFile(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func runMailQueue(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("mail queue", flag.ContinueOnError)
	data := dataFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := app.LoadConfig(*data)
	if err != nil {
		return err
	}
	dir := cfg.Mail.SpoolDir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(cfg.DataDir, dir)
	}
	sp, err := spool.OpenReadOnly(dir, nil)
	if err != nil {
		return err
	}
	items, err := sp.List()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tAGE\tSIZE\tFROM\tTO\tATTEMPTS\tLAST ERROR")
	for _, it := range items {
		state := "queued"
		if it.Dead {
			state = "dead"
		}
		last := it.State.LastError
		for r, e := range it.State.Failed {
			last = r + ": " + e
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t<%s>\t%s\t%d\t%s\n", it.Envelope.ID, state,
			time.Since(it.Envelope.Received).Round(time.Second), it.Size, it.Envelope.From,
			strings.Join(it.Envelope.To, ","), it.State.Attempts, oneLine(last))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d message(s)\n", len(items))
	return nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}
