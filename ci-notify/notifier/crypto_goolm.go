//go:build goolm

package notifier

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/cryptohelper"
	_ "modernc.org/sqlite" // the crypto store's driver
)

// E2EE is end-to-end encryption for the bot's client: mautrix's crypto
// helper with the pure Go olm (goolm), its keys and the room state it needs
// (who is in each room, which rooms are encrypted) in <state>/crypto.db.
// Once enabled, the client encrypts messages to encrypted rooms by itself
// (mautrix.Client.SendMessageEvent consults Client.Crypto).
//
// The homeserver must offer the end-to-end keys API (/keys/upload,
// /keys/query, /keys/claim, /sendToDevice and to-device messages and
// device lists in /sync).
type E2EE struct {
	cli    *mautrix.Client
	helper *cryptohelper.CryptoHelper
	log    *slog.Logger
}

// EnableCrypto sets up encryption on cli (logged in, with a stable device)
// with its stores in stateDir, uploads the device's keys if new, and runs
// one sync so that the room state is known before the first send.
func EnableCrypto(ctx context.Context, cli *mautrix.Client, stateDir string, log *slog.Logger) (*E2EE, error) {
	key, err := pickleKey(stateDir)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(stateDir, "crypto.db")+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open crypto store: %w", err)
	}
	db, err := dbutil.NewWithDB(raw, "sqlite3")
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("open crypto store: %w", err)
	}
	helper, err := cryptohelper.NewCryptoHelper(cli, key, db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("crypto helper: %w", err)
	}
	if err := helper.Init(ctx); err != nil {
		helper.Close()
		return nil, fmt.Errorf("start encryption (does the homeserver offer the keys API?): %w", err)
	}
	cli.Crypto = helper
	e := &E2EE{cli: cli, helper: helper, log: log}
	if err := e.SyncOnce(ctx); err != nil {
		helper.Close()
		return nil, err
	}
	return e, nil
}

// pickleKey returns the key that encrypts the olm account at rest, made on
// first use in <state>/crypto.key (mode 0600).
func pickleKey(stateDir string) ([]byte, error) {
	path := filepath.Join(stateDir, "crypto.key")
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("%s: not a 32-byte hex key", path)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read pickle key: %w", err)
	}
	k := make([]byte, 32)
	rand.Read(k)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create pickle key: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write pickle key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("write pickle key: %w", err)
	}
	return k, f.Close()
}

// SyncOnce runs one /sync round through the client's syncer, which feeds
// the crypto machine (to-device keys, device lists) and the state store.
// The command line calls it before posting.
func (e *E2EE) SyncOnce(ctx context.Context) error {
	since, err := e.cli.Store.LoadNextBatch(ctx, e.cli.UserID)
	if err != nil {
		return fmt.Errorf("load sync token: %w", err)
	}
	resp, err := e.cli.FullSyncRequest(ctx, mautrix.ReqSync{Since: since})
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	if err := e.cli.Syncer.ProcessResponse(ctx, resp, since); err != nil {
		return fmt.Errorf("process sync: %w", err)
	}
	if err := e.cli.Store.SaveNextBatch(ctx, e.cli.UserID, resp.NextBatch); err != nil {
		return fmt.Errorf("save sync token: %w", err)
	}
	return nil
}

// Run keeps syncing until ctx ends, for serve: members joining, devices
// appearing and key requests are seen as they happen.
func (e *E2EE) Run(ctx context.Context) error {
	err := e.cli.SyncWithContext(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("sync: %w", err)
}

// Close closes the crypto store.
func (e *E2EE) Close() error { return e.helper.Close() }
