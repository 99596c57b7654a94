package appservice_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mauas "maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"

	"scop/homeserver"
	"scop/homeserver/accounts"
	"scop/homeserver/appservice"
	"scop/homeserver/appservice/sqlitestore"
	"scop/homeserver/rooms"
	"scop/homeserver/storage/sqlite"
)

const (
	asToken = "as_token_0123456789abcdef"
	hsToken = "hs_token_0123456789abcdef"
)

// profiles is the set of local users, which the bridge's query handler
// may extend.
type profiles struct {
	mu    sync.Mutex
	names map[string]string
}

func (p *profiles) Profile(_ context.Context, userID string) (string, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	name, ok := p.names[userID]
	if !ok {
		return "", "", homeserver.Errorf(homeserver.ErrNotFound, "no such user")
	}
	return name, "", nil
}

func (p *profiles) add(userID string) {
	p.mu.Lock()
	p.names[userID] = userID
	p.mu.Unlock()
}

// bridge is a real mautrix application service HTTP server on loopback,
// with a switch to fail transactions and a log of transaction attempts.
type bridge struct {
	AS  *mauas.AppService
	URL string

	mu       sync.Mutex
	failNext int // transactions to answer 500
	// loseAck makes the next transaction be processed but answered 500
	// (a lost acknowledgement), after which the bridge is down.
	loseAck  bool
	attempts []string // txn IDs of every PUT, in order
	sizes    []int    // events per transaction PUT
	queries  []string // paths of user and alias queries
}

func newBridge(t testing.TB) *bridge {
	b := &bridge{AS: mauas.Create()}
	b.AS.Registration = &mauas.Registration{ID: "mailbridge", AppToken: asToken, ServerToken: hsToken, SenderLocalpart: "mailbot"}
	b.AS.HomeserverDomain = "test"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			body, _ := io.ReadAll(r.Body)
			var txn struct {
				Events []json.RawMessage `json:"events"`
			}
			json.Unmarshal(body, &txn)
			b.mu.Lock()
			b.attempts = append(b.attempts, strings.TrimPrefix(r.URL.Path, "/_matrix/app/v1/transactions/"))
			b.sizes = append(b.sizes, len(txn.Events))
			fail := b.failNext > 0
			if fail {
				b.failNext--
			}
			lose := !fail && b.loseAck
			if lose {
				b.loseAck, b.failNext = false, 1<<30
			}
			b.mu.Unlock()
			if fail {
				http.Error(w, `{"errcode":"M_UNKNOWN"}`, http.StatusInternalServerError)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if lose {
				b.AS.Router.ServeHTTP(httptest.NewRecorder(), r)
				http.Error(w, `{"errcode":"M_UNKNOWN"}`, http.StatusInternalServerError)
				return
			}
		} else if r.Method == http.MethodGet {
			b.mu.Lock()
			b.queries = append(b.queries, r.URL.Path)
			b.mu.Unlock()
		}
		b.AS.Router.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	b.URL = srv.URL
	return b
}

func (b *bridge) setFail(n int) {
	b.mu.Lock()
	b.failNext = n
	b.mu.Unlock()
}

func (b *bridge) setLoseAck() {
	b.mu.Lock()
	b.loseAck = true
	b.mu.Unlock()
}

func (b *bridge) log() (attempts []string, sizes []int, queries []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.attempts...), append([]int(nil), b.sizes...), append([]string(nil), b.queries...)
}

// registration is the bridge's registration as scop parses it.
func (b *bridge) registration(t testing.TB) accounts.AppService {
	as, err := accounts.ParseAppService(fmt.Appendf(nil, `
id: mailbridge
url: %s
as_token: %s
hs_token: %s
sender_localpart: mailbot
namespaces:
  users: [{exclusive: true, regex: '@mail_.*:test'}]
  aliases: [{exclusive: true, regex: '#mail_.*:test'}]
`, b.URL, asToken, hsToken))
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// next returns the next event the bridge received.
func (b *bridge) next(t testing.TB) *event.Event {
	t.Helper()
	select {
	case e := <-b.AS.Events:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event reached the bridge")
		return nil
	}
}

// until reads events until one with body, returning every event read.
func (b *bridge) until(t testing.TB, body string) []*event.Event {
	t.Helper()
	var got []*event.Event
	for {
		e := b.next(t)
		got = append(got, e)
		if e.Type == event.EventMessage && e.Content.AsMessage().Body == body {
			return got
		}
	}
}

// env is a rooms service and an application service sender over one
// SQLite file, restartable.
type env struct {
	t      testing.TB
	path   string
	key    ed25519.PrivateKey
	users  *profiles
	reg    accounts.AppService
	opts   appservice.Options
	db     *sql.DB
	store  *sqlite.RoomsStore
	rooms  *rooms.Service
	as     *appservice.Service
	asDB   *sqlitestore.Store
	closed bool
}

func newEnv(t testing.TB, reg accounts.AppService, tune ...func(*appservice.Options)) *env {
	_, key, _ := ed25519.GenerateKey(nil)
	e := &env{t: t, path: filepath.Join(t.TempDir(), "hs.db"), key: key, reg: reg,
		users: &profiles{names: map[string]string{"@alice:test": "Alice", "@bob:test": "Bob", "@mailbot:test": "bot", "@mail_ghost:test": "Ghost"}},
		opts: appservice.Options{ServerName: "test", MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, QueryTimeout: 2 * time.Second, Log: slog.New(slog.DiscardHandler),
			Caller: func(ctx context.Context) string { s, _ := ctx.Value(callerKey{}).(string); return s }}}
	for _, f := range tune {
		f(&e.opts)
	}
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *env) open() {
	ctx := context.Background()
	db, err := sqlite.Open(e.path)
	if err != nil {
		e.t.Fatal(err)
	}
	store, err := sqlite.NewRoomsStore(ctx, db)
	if err != nil {
		e.t.Fatal(err)
	}
	asDB, err := sqlitestore.New(ctx, db)
	if err != nil {
		e.t.Fatal(err)
	}
	as := appservice.New([]accounts.AppService{e.reg}, e.opts)
	svc, err := rooms.New(ctx, rooms.DefaultConfig(), rooms.Identity{ServerName: "test", KeyID: "ed25519:k", Key: e.key},
		store, as.Aliases(store), store, as.Profiles(e.users), slog.New(slog.DiscardHandler))
	if err != nil {
		e.t.Fatal(err)
	}
	e.db, e.store, e.rooms, e.as, e.asDB, e.closed = db, store, svc, as, asDB, false
}

// start begins delivery.
func (e *env) start() {
	if err := e.as.Start(context.Background(), e.rooms, e.asDB); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) close() {
	if e.closed {
		return
	}
	e.closed = true
	e.as.Close()
	e.rooms.Close()
	e.store.Close()
	e.db.Close()
}

// callerKey marks a context as a request of an application service.
type callerKey struct{}

func dev(user string) homeserver.Device { return homeserver.Device{UserID: user, DeviceID: "DEV"} }

func (e *env) createRoom(user string, req rooms.CreateRoomRequest) string {
	e.t.Helper()
	id, err := e.rooms.CreateRoom(context.Background(), dev(user), req)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) send(user, roomID, body string) {
	e.t.Helper()
	content, _ := json.Marshal(map[string]string{"msgtype": "m.text", "body": body})
	if _, err := e.rooms.Send(context.Background(), dev(user), roomID, "m.room.message", "t-"+body, content); err != nil {
		e.t.Fatal(err)
	}
}

func bodies(evs []*event.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Type == event.EventMessage {
			out = append(out, e.Content.AsMessage().Body)
		}
	}
	return out
}
