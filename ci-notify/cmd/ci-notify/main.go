// Command ci-notify posts CI build results into Matrix rooms: one room per
// repository, one message per pipeline, edited in place as jobs progress.
//
//	ci-notify post --repo R --pipeline ID [--job NAME] --status S [--url URL] ...
//	ci-notify serve [--listen ADDR]
//
// Both take --config FILE (or CI_NOTIFY_CONFIG) and --state DIR (or
// CI_NOTIFY_STATE). Secrets come from the config file or the environment
// (CI_NOTIFY_PASSWORD, CI_NOTIFY_TOKEN, CI_NOTIFY_*_SECRET), never from the
// command line. See ci-notify/README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr}
	if err := m.Run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ci-notify:", err)
		if err == errUsage {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
