package appservice_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"scop/homeserver"
	"scop/homeserver/accounts"
	"scop/homeserver/appservice"
	"scop/homeserver/rooms"
)

const ghost = "@mail_ghost:test"

// bridgedRoom makes alice create a room, invite the ghost and the ghost
// join, and waits until the bridge has seen the ghost's join.
func bridgedRoom(t testing.TB, e *env, b *bridge) string {
	t.Helper()
	roomID := e.createRoom("@alice:test", rooms.CreateRoomRequest{Preset: "private_chat", Invite: []string{ghost}})
	if _, err := e.rooms.Join(context.Background(), dev(ghost), roomID, ""); err != nil {
		t.Fatal(err)
	}
	e.send("@alice:test", roomID, "ready")
	b.until(t, "ready")
	return roomID
}

func TestTransactionsFollowNamespaces(t *testing.T) {
	b := newBridge(t)
	e := newEnv(t, b.registration(t))
	e.start()
	ctx := context.Background()
	bridged := e.createRoom("@alice:test", rooms.CreateRoomRequest{Preset: "private_chat", Invite: []string{ghost}})
	if _, err := e.rooms.Join(ctx, dev(ghost), bridged, ""); err != nil {
		t.Fatal(err)
	}
	private := e.createRoom("@alice:test", rooms.CreateRoomRequest{Preset: "private_chat", Invite: []string{"@bob:test"}})
	if _, err := e.rooms.Join(ctx, dev("@bob:test"), private, ""); err != nil {
		t.Fatal(err)
	}
	e.send("@alice:test", private, "secret")
	lounge := e.createRoom("@bob:test", rooms.CreateRoomRequest{Preset: "public_chat", RoomAliasName: "mail_lounge"})
	e.send("@bob:test", lounge, "lounge")
	e.send("@alice:test", bridged, "hello")

	got := b.until(t, "hello")
	if bs := bodies(got); !slices.Equal(bs, []string{"lounge", "hello"}) {
		t.Errorf("messages delivered %q, want the alias room's and the ghost room's", bs)
	}
	var invite, join bool
	for _, ev := range got {
		if ev.RoomID == id.RoomID(private) {
			t.Errorf("event %s of a room without namespace members was delivered", ev.Type.Type)
		}
		if ev.Type == event.StateMember && ev.GetStateKey() == ghost {
			switch ev.Content.AsMember().Membership {
			case event.MembershipInvite:
				invite = true
			case event.MembershipJoin:
				join = true
			}
		}
		if ev.ID == "" || ev.RoomID == "" || ev.Sender == "" {
			t.Errorf("incomplete client event %+v", ev)
		}
	}
	if !invite || !join {
		t.Errorf("ghost's invite (%v) or join (%v) not delivered", invite, join)
	}
}

func TestTransactionRetriedWithSameID(t *testing.T) {
	b := newBridge(t)
	e := newEnv(t, b.registration(t))
	e.start()
	room := bridgedRoom(t, e, b)
	before, _, _ := b.log()
	b.setFail(2)
	for _, m := range []string{"r1", "r2", "r3"} {
		e.send("@alice:test", room, m)
	}
	if bs := bodies(b.until(t, "r3")); !slices.Equal(bs, []string{"r1", "r2", "r3"}) {
		t.Fatalf("delivered %q, want r1 r2 r3 once each, in order", bs)
	}
	attempts, _, _ := b.log()
	tries := attempts[len(before):]
	if len(tries) < 3 || tries[0] != tries[1] || tries[1] != tries[2] {
		t.Fatalf("attempts after two failures %q: want the same txn ID three times", tries)
	}
	e.send("@alice:test", room, "end")
	if bs := bodies(b.until(t, "end")); !slices.Equal(bs, []string{"end"}) {
		t.Fatalf("after the retry: %q", bs)
	}
}

// A successful ping ends the sender's backoff: a bridge that restarts
// (and pings, as mautrix does) gets the waiting events at once.
func TestPingEndsBackoff(t *testing.T) {
	b := newBridge(t)
	e := newEnv(t, b.registration(t), func(o *appservice.Options) { o.MinBackoff, o.MaxBackoff = time.Hour, time.Hour })
	e.start()
	room := bridgedRoom(t, e, b)
	attempts, _, _ := b.log()
	b.setFail(1)
	e.send("@alice:test", room, "p1")
	waitAttempts(t, b, len(attempts))
	if _, err := e.as.Ping(context.Background(), "mailbridge", "back"); err != nil {
		t.Fatal(err)
	}
	if bs := bodies(b.until(t, "p1")); !slices.Equal(bs, []string{"p1"}) {
		t.Fatalf("after the ping: %q", bs)
	}
}

func TestTransactionsHoldAtMost100Events(t *testing.T) {
	b := newBridge(t)
	e := newEnv(t, b.registration(t))
	e.start()
	room := bridgedRoom(t, e, b)
	_, before, _ := b.log()
	b.setFail(1 << 30)
	var want []string
	for i := range 230 {
		want = append(want, fmt.Sprint("m", i))
		e.send("@alice:test", room, want[i])
	}
	b.setFail(0)
	if bs := bodies(b.until(t, "m229")); !slices.Equal(bs, want) {
		t.Fatalf("delivered %d messages, want the 230 in order once each", len(bs))
	}
	_, sizes, _ := b.log()
	full := false
	for _, n := range sizes[len(before):] {
		if n > appservice.MaxTxnEvents {
			t.Fatalf("transaction of %d events", n)
		}
		full = full || n == appservice.MaxTxnEvents
	}
	if !full {
		t.Errorf("no full transaction among %v", sizes[len(before):])
	}
}

// waitAttempts waits until the bridge has seen more than n transaction
// attempts.
func waitAttempts(t testing.TB, b *bridge, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if a, _, _ := b.log(); len(a) > n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no transaction attempt")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRestartResumesFromStoredPosition(t *testing.T) {
	b := newBridge(t)
	e := newEnv(t, b.registration(t))
	e.start()
	room := bridgedRoom(t, e, b)
	e.send("@alice:test", room, "a1")
	b.until(t, "a1")

	// Sent while scop's sender is down: delivered after the restart,
	// and nothing acknowledged before is sent again.
	e.close()
	e.open()
	e.send("@alice:test", room, "a2")
	e.start()
	if bs := bodies(b.until(t, "a2")); !slices.Equal(bs, []string{"a2"}) {
		t.Fatalf("after restart: %q, want a2 only", bs)
	}

	// An unacknowledged transaction is resent after a restart.
	attempts, _, _ := b.log()
	b.setFail(1 << 30)
	e.send("@alice:test", room, "a3")
	waitAttempts(t, b, len(attempts))
	e.close()
	b.setFail(0)
	e.open()
	e.start()
	e.send("@alice:test", room, "a4")
	if bs := bodies(b.until(t, "a4")); !slices.Equal(bs, []string{"a3", "a4"}) {
		t.Fatalf("after a restart with a pending transaction: %q, want a3 a4", bs)
	}

	// The bridge processed a transaction but scop never saw the 200: after
	// the restart the same txn ID is resent and the bridge drops it.
	attempts, _, _ = b.log()
	b.setLoseAck()
	e.send("@alice:test", room, "a5")
	b.until(t, "a5")
	waitAttempts(t, b, len(attempts)+1) // the lost one and a failed retry
	e.close()
	b.setFail(0)
	e.open()
	e.start()
	e.send("@alice:test", room, "a6")
	if bs := bodies(b.until(t, "a6")); !slices.Equal(bs, []string{"a6"}) {
		t.Fatalf("after a lost acknowledgement and a restart: %q, want a6 only", bs)
	}
	all, _, _ := b.log()
	lost := all[len(attempts)]
	n := 0
	for _, a := range all {
		if a == lost {
			n++
		}
	}
	if n < 3 {
		t.Errorf("txn %s sent %d times, want the lost try, a failed retry and the resend after restart", lost, n)
	}
}

func TestRegistrationWithoutURLGetsNoPushes(t *testing.T) {
	reg, err := accounts.ParseAppService([]byte(`{id: mailbridge, url: null, as_token: ` + asToken + `, hs_token: ` + hsToken +
		`, sender_localpart: mailbot, namespaces: {users: [{exclusive: true, regex: '@mail_.*:test'}]}}`))
	if err != nil || reg.URL != "" {
		t.Fatalf("url: null: %q %v", reg.URL, err)
	}
	e := newEnv(t, reg)
	e.start()
	room := e.createRoom("@alice:test", rooms.CreateRoomRequest{Invite: []string{ghost}})
	e.send("@alice:test", room, "x")
	if _, err := e.as.Ping(context.Background(), "mailbridge", ""); !isCode(err, appservice.ErrURLNotSet) {
		t.Fatalf("ping without URL: %v", err)
	}
	if _, ok, err := e.asDB.State(context.Background(), "mailbridge"); ok || err != nil {
		t.Fatalf("a sender ran for a registration without URL (state stored: %v, %v)", ok, err)
	}
}

func isCode(err error, code string) bool {
	var he *homeserver.Error
	return errors.As(err, &he) && he.Code == code
}

type queries struct{ e *env }

func (q queries) QueryAlias(alias id.RoomAlias) bool {
	if alias != "#mail_q:test" {
		return false
	}
	_, err := q.e.rooms.CreateRoom(context.Background(), dev("@mailbot:test"), rooms.CreateRoomRequest{Preset: "public_chat", RoomAliasName: "mail_q"})
	return err == nil
}

func (q queries) QueryUser(userID id.UserID) bool {
	if !strings.HasPrefix(string(userID), "@mail_new") {
		return false
	}
	q.e.users.add(string(userID))
	return true
}

func TestQueriesCreateUsersAndAliases(t *testing.T) {
	b := newBridge(t)
	e := newEnv(t, b.registration(t))
	b.AS.QueryHandler = queries{e}
	ctx := context.Background()

	if dn, _, err := e.as.Profile(ctx, e.users, "@mail_new1:test"); err != nil || dn != "@mail_new1:test" {
		t.Errorf("profile of a user the bridge creates: %q %v", dn, err)
	}
	if _, _, err := e.as.Profile(ctx, e.users, "@mail_none:test"); !isCode(err, homeserver.ErrNotFound) {
		t.Errorf("profile of a user the bridge denies: %v", err)
	}
	if _, _, err := e.as.Profile(ctx, e.users, "@zed:test"); !isCode(err, homeserver.ErrNotFound) {
		t.Errorf("profile outside the namespace: %v", err)
	}
	room := e.createRoom("@alice:test", rooms.CreateRoomRequest{Invite: []string{"@mail_new2:test"}})
	if err := e.rooms.Invite(ctx, dev("@alice:test"), room, "@mail_new3:test", ""); err != nil {
		t.Errorf("invite of a user the bridge creates: %v", err)
	}
	if err := e.rooms.Invite(ctx, dev("@alice:test"), room, "@mail_nobody:test", ""); !isCode(err, homeserver.ErrNotFound) {
		t.Errorf("invite of a user the bridge denies: %v", err)
	}
	if _, err := e.rooms.Join(ctx, dev("@alice:test"), "#mail_q:test", ""); err != nil {
		t.Errorf("join by an alias the bridge creates: %v", err)
	}
	if _, _, err := e.rooms.ResolveAlias(ctx, "#mail_nope:test"); !isCode(err, homeserver.ErrNotFound) {
		t.Errorf("alias the bridge denies: %v", err)
	}
	if _, _, err := e.rooms.ResolveAlias(ctx, "#other:test"); !isCode(err, homeserver.ErrNotFound) {
		t.Errorf("alias outside the namespace: %v", err)
	}
	// The bridge creating an alias of its namespace is not asked about it.
	asCtx := context.WithValue(ctx, callerKey{}, "mailbridge")
	if _, err := e.rooms.CreateRoom(asCtx, dev("@mailbot:test"), rooms.CreateRoomRequest{RoomAliasName: "mail_own"}); err != nil {
		t.Fatal(err)
	}
	_, _, q := b.log()
	for _, p := range q {
		if strings.Contains(p, "zed") || strings.Contains(p, "other") || strings.Contains(p, "mail_own") {
			t.Errorf("queried outside the namespaces: %s", p)
		}
	}
	for _, want := range []string{"/_matrix/app/v1/users/@mail_new1:test", "/_matrix/app/v1/users/@mail_none:test",
		"/_matrix/app/v1/users/@mail_new2:test", "/_matrix/app/v1/rooms/#mail_q:test", "/_matrix/app/v1/rooms/#mail_nope:test"} {
		if !slices.Contains(q, want) {
			t.Errorf("query %s not made; made %q", want, q)
		}
	}
}

func TestPingErrors(t *testing.T) {
	b := newBridge(t)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusTeapot)
	}))
	defer bad.Close()
	stop := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-stop }))
	defer slow.Close()
	defer close(stop)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + l.Addr().String()
	l.Close()
	var regs []accounts.AppService
	for i, u := range []string{b.URL, bad.URL, slow.URL, closed, ""} {
		reg := b.registration(t)
		reg.ID, reg.URL = fmt.Sprint("as", i), u
		regs = append(regs, reg)
	}
	svc := appservice.New(regs, appservice.Options{ServerName: "test", PingTimeout: 200 * time.Millisecond})
	tests := []struct {
		id, code string
		status   int
	}{
		{"as0", "", 0},
		{"as1", appservice.ErrBadStatus, 502},
		{"as2", appservice.ErrConnectionTimeout, 504},
		{"as3", appservice.ErrConnectionFailed, 502},
		{"as4", appservice.ErrURLNotSet, 0},
		{"unknown", homeserver.ErrForbidden, 0},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			_, err := svc.Ping(context.Background(), tc.id, "txn-"+tc.id)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var he *homeserver.Error
			if !errors.As(err, &he) || he.Code != tc.code || he.Status != tc.status {
				t.Fatalf("got %v, want %s %d", err, tc.code, tc.status)
			}
			if tc.code == appservice.ErrBadStatus && (he.Extra["status"] != http.StatusTeapot || !strings.Contains(fmt.Sprint(he.Extra["body"]), "nope")) {
				t.Fatalf("bad status details %v", he.Extra)
			}
		})
	}
}

// With receive_ephemeral, the public read receipts of the bridge's rooms
// come in the transactions' ephemeral section.
func TestReceiptsAsEphemeral(t *testing.T) {
	b := newBridge(t)
	b.AS.Registration.EphemeralEvents = true
	reg := b.registration(t)
	reg.ReceiveEphemeral = true
	e := newEnv(t, reg)
	e.start()
	ctx := context.Background()
	room := bridgedRoom(t, e, b)
	private := e.createRoom("@bob:test", rooms.CreateRoomRequest{Preset: "private_chat"})
	other, err := e.rooms.Send(ctx, dev("@bob:test"), private, "m.room.message", "o", []byte(`{"msgtype":"m.text","body":"o"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rooms.SendReceipt(ctx, dev("@bob:test"), private, "m.read", other, ""); err != nil {
		t.Fatal(err)
	}
	read, err := e.rooms.Send(ctx, dev("@alice:test"), room, "m.room.message", "r", []byte(`{"msgtype":"m.text","body":"r"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rooms.SendReceipt(ctx, dev("@alice:test"), room, "m.read.private", read, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.rooms.SendReceipt(ctx, dev("@alice:test"), room, "m.read", read, ""); err != nil {
		t.Fatal(err)
	}
	for {
		ev := b.next(t)
		if ev.Type != event.EphemeralEventReceipt {
			continue
		}
		if ev.RoomID != id.RoomID(room) {
			t.Fatalf("receipt of room %s delivered", ev.RoomID)
		}
		rc := ev.Content.AsReceipt()
		if rc == nil {
			t.Fatalf("receipt content %s", ev.Content.VeryRaw)
		}
		if _, ok := (*rc)[id.EventID(read)][event.ReceiptTypeReadPrivate]; ok {
			t.Fatalf("private receipt delivered: %s", ev.Content.VeryRaw)
		}
		if _, ok := (*rc)[id.EventID(read)][event.ReceiptTypeRead]["@alice:test"]; ok {
			return
		}
	}
}
