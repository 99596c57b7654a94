package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"scop/cmd/scop/app"
)

// shutdownTimeout bounds how long SIGTERM waits for in-flight requests.
const shutdownTimeout = 20 * time.Second

// dataFlags registers --data (env SCOP_DATA, default ./data) on fs.
func dataFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("SCOP_DATA")
	if def == "" {
		def = "data"
	}
	return fs.String("data", def, "data folder: scop.yaml, signing key, databases (env SCOP_DATA)")
}

func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	data := dataFlag(fs)
	listen := fs.String("listen", os.Getenv("SCOP_LISTEN"), "client API address, overriding client_api.listen (env SCOP_LISTEN); with port 0 the metrics listener also takes a free port")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := app.LoadConfig(*data)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.ClientAPI.Listen = *listen
		// A test asking for any free port runs beside others: give it a
		// free metrics port too rather than colliding on the fixed one.
		if _, port, err := net.SplitHostPort(*listen); err == nil && port == "0" && cfg.Metrics.Listen != "off" && cfg.Metrics.Listen != "" {
			if host, _, err := net.SplitHostPort(cfg.Metrics.Listen); err == nil {
				cfg.Metrics.Listen = net.JoinHostPort(host, "0")
			}
		}
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("--listen: %w", err)
		}
	}
	log := app.NewLogger(cfg.Log, os.Stderr)
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		a.Close(context.Background())
		return err
	}
	serveErr := a.Wait(ctx)
	// A second Ctrl-C or SIGTERM during shutdown kills at once.
	signal.Reset(os.Interrupt, syscall.SIGTERM)
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	closeErr := a.Close(sctx)
	if serveErr != nil {
		return serveErr
	}
	if closeErr != nil {
		return closeErr
	}
	log.Info("stopped")
	return nil
}
