package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"scop/mailstack/receiver"
	"scop/mailstack/reputation"
	"scop/mailstack/spool"
)

func TestMailAdminCommands(t *testing.T) {
	data := t.TempDir()
	ctx := context.Background()
	var out bytes.Buffer

	// corpus: N messages, reproducible per seed.
	ham, spm := filepath.Join(data, "ham"), filepath.Join(data, "spam")
	if err := runMailCorpus([]string{"6", "--out", ham, "--seed", "1"}, &out); err != nil {
		t.Fatal(err)
	}
	if err := runMailCorpus([]string{"4", "--out", spm, "--seed", "2"}, &out); err != nil {
		t.Fatal(err)
	}
	again := filepath.Join(data, "again")
	runMailCorpus([]string{"6", "--out", again, "--seed", "1"}, &out)
	a, _ := os.ReadFile(filepath.Join(ham, "000005.eml"))
	b, _ := os.ReadFile(filepath.Join(again, "000005.eml"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("corpus with the same seed differs")
	}
	if err := runMailCorpus([]string{"x"}, &out); err == nil {
		t.Error("corpus accepted a bad count")
	}

	// spam train
	out.Reset()
	if err := runSpamTrain(ctx, []string{"--data", data, "--quiet", "--ham", ham, "--spam", spm}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "learnt 6 ham and 4 spam") {
		t.Errorf("spam train said %q", out.String())
	}

	// queue lists what the spool holds.
	sp, err := spool.Open(filepath.Join(data, "mail/spool"), nil)
	if err != nil {
		t.Fatal(err)
	}
	env := &spool.Envelope{From: "s@sender.test", To: []string{"alice@localhost"}}
	if err := sp.Enqueue(env, []byte("Subject: q\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runMailQueue([]string{"--data", data}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), env.ID) || !strings.Contains(out.String(), "1 message(s)") {
		t.Errorf("mail queue said:\n%s", out.String())
	}

	// blocklist shows a blocked address and writes it for the firewall.
	db, err := receiver.OpenMailDB(filepath.Join(data, "mail.db"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := reputation.Open(ctx, db, reputation.Config{Threshold: 10})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		rep.Record(ctx, net.ParseIP("192.0.2.9"), "bad.test", reputation.EventDangerous)
	}
	db.Close()
	out.Reset()
	cidrs := filepath.Join(data, "block.txt")
	if err := runMailBlocklist(ctx, []string{"--data", data, "--cidr-file", cidrs}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "192.0.2.9/32") {
		t.Errorf("blocklist said:\n%s", out.String())
	}
	if got, _ := os.ReadFile(cidrs); string(got) != "192.0.2.9/32\n" {
		t.Errorf("cidr file = %q", got)
	}
}
