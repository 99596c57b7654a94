// Package appservice is the homeserver side of the Application Service
// API (https://spec.matrix.org/latest/application-service-api/): it pushes
// the events each registered application service is interested in as
// transactions, asks application services about unknown users and room
// aliases of their namespaces, and pings them on request.
//
// Delivery is at least once and in stream order: each application
// service has one sender that reads the room stream after its last
// acknowledged position, sends up to MaxTxnEvents events per transaction
// (plus its rooms' read receipts when it asked for ephemeral events;
// typing notifications are not sent), records the transaction before the
// first attempt, retries it (same ID, same body) with exponential backoff
// until a 2xx, and only then persists the new position. A restart
// resends only the one unacknowledged transaction, under the same ID.
package appservice

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"scop/homeserver/accounts"
	"scop/homeserver/rooms"
)

// MaxTxnEvents is the most events one transaction carries.
const MaxTxnEvents = 100

// Source is the room stream the senders follow (rooms.Service).
type Source interface {
	// StreamPosition returns the committed position and a channel
	// closed at the next change.
	StreamPosition() (int64, <-chan struct{})
	// StreamEvents returns up to limit events after from, in order, and
	// the position reached.
	StreamEvents(ctx context.Context, from int64, limit int) ([]rooms.StreamEvent, int64, error)
	// RoomMembers lists the members of a room's current state.
	RoomMembers(ctx context.Context, roomID string) ([]rooms.RoomMember, error)
	// LocalAliases lists a room's aliases.
	LocalAliases(ctx context.Context, roomID string) ([]string, error)
	// StreamReceipts returns each room's m.receipt event for the
	// receipts in (from, upTo].
	StreamReceipts(ctx context.Context, from, upTo int64) ([]rooms.StreamEvent, error)
}

// State is an application service's stored delivery state.
type State struct {
	// Pos is the last acknowledged (or skipped) stream position.
	Pos int64
	// PendingID, Pending and PendingEnd are the transaction being
	// delivered (ID, body, the position it acknowledges), if any.
	PendingID  string
	Pending    []byte
	PendingEnd int64
}

// Store persists each application service's delivery state, so that a
// restart resumes after the last acknowledged transaction and resends an
// unacknowledged one verbatim (same txnId: the application service
// deduplicates it if it had in fact processed it).
type Store interface {
	// State returns the stored state; ok is false when there is none.
	State(ctx context.Context, asID string) (st State, ok bool, err error)
	// SetPosition stores the position and clears the pending transaction.
	SetPosition(ctx context.Context, asID string, pos int64) error
	// SetPending records the transaction about to be sent.
	SetPending(ctx context.Context, asID, txnID string, body []byte, end int64) error
}

// Options tune the service; zero values take the defaults.
type Options struct {
	// ServerName is the homeserver's name (for the sender_localpart user).
	ServerName string
	// TxnTimeout bounds one transaction request (default 60 s).
	TxnTimeout time.Duration
	// QueryTimeout bounds a user or alias query (default 5 s).
	QueryTimeout time.Duration
	// PingTimeout bounds a ping (default 10 s).
	PingTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries of a
	// failed transaction (defaults 1 s and 5 min).
	MinBackoff, MaxBackoff time.Duration
	// Transport carries the requests (default: a fresh http.Transport).
	Transport http.RoundTripper
	// Caller, if set, returns the ID of the application service making
	// the request ctx belongs to ("" for a user or none). An application
	// service is not asked about aliases of its own namespace while it
	// creates or resolves them itself: the rooms service looks an alias up
	// under its alias lock when creating it, and asking the creator
	// would hold that lock for a round trip (or until the timeout, if the
	// bridge's answer creates the alias).
	Caller func(ctx context.Context) string
	// Log receives delivery failures (default: slog.Default()).
	Log *slog.Logger
}

// Service delivers to and queries the registered application services.
// Create it with New; it is safe for concurrent use.
type Service struct {
	opts   Options
	list   []*accounts.AppService
	client *http.Client

	inflightMu sync.Mutex
	inflight   map[string]bool // "u"+user or "a"+alias queries in progress

	runMu   sync.Mutex
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	senders []*sender
}

// New returns a service for the registrations in list. Queries and pings
// work at once; Start begins pushing transactions.
func New(list []accounts.AppService, opts Options) *Service {
	if opts.TxnTimeout <= 0 {
		opts.TxnTimeout = 60 * time.Second
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 5 * time.Second
	}
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = 10 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if opts.Transport == nil {
		opts.Transport = &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second}
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	s := &Service{opts: opts, client: &http.Client{Transport: opts.Transport}, inflight: map[string]bool{}}
	for i := range list {
		as := list[i]
		s.list = append(s.list, &as)
	}
	return s
}

// byID returns the registration with id, or nil.
func (s *Service) byID(id string) *accounts.AppService {
	for _, as := range s.list {
		if as.ID == id {
			return as
		}
	}
	return nil
}

// endpoint joins an application service's base URL and an API path.
func endpoint(as *accounts.AppService, path string) string {
	return strings.TrimRight(as.URL, "/") + path
}

// newRequest builds a request to an application service authenticated
// with its hs_token (only in the header: mautrix rejects it in the query).
func newRequest(ctx context.Context, as *accounts.AppService, method, path string, body []byte) (*http.Request, error) {
	var req *http.Request
	var err error
	if body != nil {
		req, err = http.NewRequestWithContext(ctx, method, endpoint(as, path), bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	} else {
		req, err = http.NewRequestWithContext(ctx, method, endpoint(as, path), nil)
	}
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+as.HSToken)
	return req, nil
}
