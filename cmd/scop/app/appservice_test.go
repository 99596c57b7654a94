package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	mauas "maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// userCreator is a bridge's query handler that registers the ghosts it
// is asked about and creates the portal rooms of #mail_portal*.
type userCreator struct{ as *mauas.AppService }

func (u userCreator) QueryAlias(alias id.RoomAlias) bool {
	local := strings.TrimSuffix(strings.TrimPrefix(string(alias), "#"), ":localhost")
	if !strings.HasPrefix(local, "mail_portal") {
		return false
	}
	_, err := u.as.BotIntent().CreateRoom(context.Background(), &mautrix.ReqCreateRoom{Preset: "public_chat", RoomAliasName: local})
	return err == nil
}

func (u userCreator) QueryUser(userID id.UserID) bool {
	return u.as.Intent(userID).EnsureRegistered(context.Background()) == nil
}

// TestAppServiceBridge runs scop with a real mautrix application service
// registered: the bridge pings scop, its ghost joins a user's room and
// receives the user's message as a transaction, and a profile lookup of
// an unknown ghost asks the bridge.
func TestAppServiceBridge(t *testing.T) {
	ctx := t.Context()
	cfg := testConfig(t)
	cfg.ClientAPI.RateLimits.Enabled = false
	if _, err := AddUser(ctx, cfg, "alice", "pw-alice-123", false); err != nil {
		t.Fatal(err)
	}
	mas := mauas.Create()
	mas.Registration = &mauas.Registration{ID: "mailbridge", AppToken: "as_0123456789abcdef", ServerToken: "hs_0123456789abcdef",
		SenderLocalpart: "mailbot"}
	mas.HomeserverDomain = "localhost"
	mas.QueryHandler = userCreator{mas}
	bridgeSrv := httptest.NewServer(mas.Router)
	defer bridgeSrv.Close()
	reg := fmt.Sprintf(`id: mailbridge
url: %s
as_token: as_0123456789abcdef
hs_token: hs_0123456789abcdef
sender_localpart: mailbot
namespaces:
  users: [{exclusive: true, regex: '@mail_.*:localhost'}]
  aliases: [{exclusive: true, regex: '#mail_.*:localhost'}]
`, bridgeSrv.URL)
	os.WriteFile(filepath.Join(cfg.DataDir, "bridge.yaml"), []byte(reg), 0o600)
	os.WriteFile(filepath.Join(cfg.DataDir, "other.yaml"), []byte(`id: other
as_token: as_other_0123456789
hs_token: hs_other_0123456789
sender_localpart: otherbot
`), 0o600)
	cfg.AppServices = []string{"bridge.yaml", "other.yaml"}
	a, err := New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	base := "http://" + a.Addrs().Client
	if err := mas.SetHomeserverURL(base); err != nil {
		t.Fatal(err)
	}

	ping, err := mas.BotIntent().AppservicePing(ctx, "mailbridge", "start-1")
	if err != nil || ping.DurationMS < 0 {
		t.Fatalf("ping through mautrix: %+v %v", ping, err)
	}
	for _, tc := range []struct{ name, asID, token, code string }{
		{"another application service's ID", "other", "as_0123456789abcdef", "M_FORBIDDEN"},
		{"no URL", "other", "as_other_0123456789", "M_URL_NOT_SET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cli, _ := mautrix.NewClient(base, "", tc.token)
			_, err := cli.AppservicePing(ctx, tc.asID, "x")
			var he mautrix.HTTPError
			if !errors.As(err, &he) || he.RespError == nil || he.RespError.ErrCode != tc.code {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
		})
	}

	alice, _ := mautrix.NewClient(base, "", "")
	if _, err := alice.Login(ctx, &mautrix.ReqLogin{Type: mautrix.AuthTypePassword, Password: "pw-alice-123", StoreCredentials: true,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: "alice"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.AppservicePing(ctx, "mailbridge", "x"); err == nil {
		t.Fatal("a user token pinged the application service")
	}
	ghostID := id.UserID("@mail_bob:localhost")
	ghost := mas.Intent(ghostID)
	if err := ghost.EnsureRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{ghostID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ghost.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	other, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendText(ctx, other.RoomID, "not for the bridge"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendText(ctx, room.RoomID, "hello bridge"); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case e := <-mas.Events:
			if e.RoomID == other.RoomID {
				t.Fatalf("event %s of a room without the bridge's users was delivered", e.Type.Type)
			}
			if e.Type == event.EventMessage && e.Content.AsMessage().Body == "hello bridge" {
				if e.Sender != alice.UserID || e.RoomID != room.RoomID {
					t.Fatalf("message from %s in %s", e.Sender, e.RoomID)
				}
				done = true
			}
		case <-timeout:
			t.Fatal("alice's message did not reach the bridge")
		}
	}

	// An unknown ghost is created by the bridge when asked about.
	prof, err := alice.GetProfile(ctx, "@mail_carol:localhost")
	if err != nil || prof == nil {
		t.Fatalf("profile of a ghost the bridge creates on query: %v", err)
	}
	// An unknown alias of the bridge's namespace: the bridge creates the
	// portal room when asked, and alice joins it by alias.
	portal, err := alice.ResolveAlias(ctx, "#mail_portal1:localhost")
	if err != nil {
		t.Fatalf("alias the bridge creates on query: %v", err)
	}
	if _, err := alice.JoinRoom(ctx, "#mail_portal1:localhost", nil); err != nil {
		t.Fatalf("join %s by alias: %v", portal.RoomID, err)
	}
	if _, err := alice.ResolveAlias(ctx, "#mail_nothing:localhost"); err == nil {
		t.Fatal("an alias the bridge denies resolved")
	}
	_, err = alice.GetProfile(ctx, "@nobody:localhost")
	var he mautrix.HTTPError
	if !errors.As(err, &he) || he.Response == nil || he.Response.StatusCode != http.StatusNotFound {
		t.Fatalf("profile of an unknown user: %v", err)
	}
}
