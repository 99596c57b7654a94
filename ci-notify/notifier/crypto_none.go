//go:build !goolm

package notifier

import (
	"context"
	"log/slog"

	"maunium.net/go/mautrix"
)

// E2EE is end-to-end encryption for the bot's client; in this build (no
// goolm tag) it is unavailable and EnableCrypto fails with ErrNoCrypto.
type E2EE struct{}

// EnableCrypto fails with ErrNoCrypto: this build has no olm.
func EnableCrypto(ctx context.Context, cli *mautrix.Client, stateDir string, log *slog.Logger) (*E2EE, error) {
	return nil, ErrNoCrypto
}

// SyncOnce does nothing in this build.
func (e *E2EE) SyncOnce(ctx context.Context) error { return ErrNoCrypto }

// Run does nothing in this build.
func (e *E2EE) Run(ctx context.Context) error { return ErrNoCrypto }

// Close does nothing in this build.
func (e *E2EE) Close() error { return nil }
