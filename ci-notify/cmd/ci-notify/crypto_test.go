//go:build goolm

package main

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
)

// TestEncryptedRoom posts into a room created with encryption: the bot's
// message must arrive as m.room.encrypted. Run with -tags goolm.
func TestEncryptedRoom(t *testing.T) {
	needHomeserver(t)
	e, bot := botEnv(t)
	alice, _ := newUser(t, "alice")
	repo := fmt.Sprintf("sec/app%d", time.Now().UnixNano()%1e6)
	cfg := writeConfig(t, fmt.Sprintf("encrypt: true\ninvite: [%q]\n", alice.UserID))
	err := runCmd(t, e, "post", "--config", cfg, "--repo", repo, "--pipeline", "1", "--job", "build", "--status", "running")
	var he mautrix.HTTPError
	if err != nil && (errors.Is(err, mautrix.MUnrecognized) || errors.As(err, &he) && he.Response != nil &&
		(he.Response.StatusCode == http.StatusNotFound || he.Response.StatusCode == http.StatusMethodNotAllowed)) {
		t.Skipf("homeserver lacks the end-to-end keys API (needed: POST /keys/upload, /keys/query, /keys/claim, "+
			"PUT /sendToDevice, to_device and device_lists in /sync): %v", err)
	}
	if err != nil {
		t.Fatalf("post into an encrypted room: %v", err)
	}
	alias := "#ci_" + strings.ReplaceAll(repo, "/", "_") + ":localhost"
	joined, err := alice.JoinRoom(t.Context(), alias, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := alice.Messages(t.Context(), joined.RoomID, "", "", mautrix.DirectionBackward, nil, 50)
	if err != nil {
		t.Fatal(err)
	}
	var encrypted, plain int
	for _, ev := range resp.Chunk {
		if ev.Sender != bot.UserID {
			continue
		}
		switch ev.Type {
		case event.EventEncrypted:
			encrypted++
		case event.EventMessage:
			plain++
		}
	}
	if encrypted != 1 || plain != 0 {
		t.Errorf("bot sent %d encrypted and %d plaintext messages, want 1 and 0", encrypted, plain)
	}
}
