// Command scop is SCoP's one binary: the Matrix homeserver, the mail
// receiver and their admin tools, as subcommands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: scop <command> [flags]

commands:
  serve                 run the homeserver (and the mail receiver when enabled)
  user add NAME         create an account
  user passwd NAME      set a user's password (logs out their devices)
  mail receive|queue|blocklist|corpus
                        run or inspect the mail receiver
  spam train            train the spam filter
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "serve":
		err = runServe(ctx, args)
	case "user":
		err = runUser(ctx, args)
	case "mail":
		err = runMail(ctx, args)
	case "spam":
		err = runSpam(ctx, args)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "scop: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scop:", err)
		os.Exit(1)
	}
}
