package main

import (
	"context"
	"errors"
	"io"
)

func runMailBlocklist(ctx context.Context, args []string, out io.Writer) error {
	return errors.New("mail blocklist: the reputation store is not wired in yet")
}

func runMailCorpus(args []string, out io.Writer) error {
	return errors.New("mail corpus: the generator is not wired in yet")
}
