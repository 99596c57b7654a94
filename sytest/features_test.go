package sytest

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMembership_JoinRules(t *testing.T) {
	t.Parallel()
	run(t, "KnockThenInvite", func(c *T) {
		a, b := c.user(), c.user()
		room := a.createRoom(map[string]any{"room_version": "11", "initial_state": []any{map[string]any{
			"type": "m.room.join_rules", "state_key": "", "content": map[string]any{"join_rule": "knock"}}}})
		b.MustErr("POST", cs("/join/%s", room), map[string]any{}, 403, "M_FORBIDDEN")
		b.Must("POST", cs("/knock/%s", room), map[string]any{"reason": "let me in"})
		if m := a.membership(room, b.UserID); m != "knock" {
			c.Errorf("membership after knock %q", m)
		}
		a.Must("POST", cs("/rooms/%s/invite", room), map[string]any{"user_id": b.UserID})
		b.join(room)
	})
	run(t, "RestrictedBySpaceMembership", func(c *T) {
		a, b, x := c.user(), c.user(), c.user()
		space := a.createRoom(map[string]any{"preset": "public_chat", "creation_content": map[string]any{"type": "m.space"}})
		b.join(space)
		room := a.createRoom(map[string]any{"room_version": "10", "initial_state": []any{map[string]any{
			"type": "m.room.join_rules", "state_key": "",
			"content": map[string]any{"join_rule": "restricted", "allow": []any{
				map[string]any{"type": "m.room_membership", "room_id": space}}}}}})
		b.join(room)
		x.MustErr("POST", cs("/join/%s", room), map[string]any{}, 403, "M_FORBIDDEN")
		m := a.state(room, "m.room.member", b.UserID)
		if m["membership"] != "join" || !strings.HasPrefix(str(m, "join_authorised_via_users_server"), "@") {
			c.Errorf("restricted join event %v lacks join_authorised_via_users_server", m)
		}
	})
	run(t, "SpaceHierarchy", func(c *T) {
		a := c.user()
		space := a.createRoom(map[string]any{"preset": "public_chat", "name": "space", "creation_content": map[string]any{"type": "m.space"}})
		child := a.createRoom(map[string]any{"preset": "public_chat", "name": "child"})
		a.setState(space, "m.space.child", child, map[string]any{"via": []string{c.server()}})
		j := a.Must("GET", "/_matrix/client/v1"+p("/rooms/%s/hierarchy", space), nil)
		rooms, _ := j["rooms"].([]any)
		seen := map[string]bool{}
		for _, r := range rooms {
			seen[str(r, "room_id")] = true
		}
		if !seen[space] || !seen[child] {
			c.Errorf("hierarchy %v lacks the space or its child", j)
		}
	})
}

func TestSearch(t *testing.T) {
	t.Parallel()
	run(t, "RoomEvents", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		word := "needle" + uniq("w")
		id := u.send(room, "a "+word+" in a haystack")
		u.send(room, "nothing here")
		j := u.Must("POST", cs("/search"), map[string]any{"search_categories": map[string]any{
			"room_events": map[string]any{"search_term": word}}})
		res, _ := get(j, "search_categories", "room_events", "results").([]any)
		if len(res) != 1 || str(res[0], "result", "event_id") != id {
			c.Errorf("search for %q: %v", word, j)
		}
	})
	run(t, "OnlyJoinedRooms", func(c *T) {
		a, x := c.user(), c.user()
		room := a.createRoom(map[string]any{"preset": "private_chat"})
		word := "secret" + uniq("w")
		a.send(room, word)
		j := x.Must("POST", cs("/search"), map[string]any{"search_categories": map[string]any{
			"room_events": map[string]any{"search_term": word}}})
		if res, _ := get(j, "search_categories", "room_events", "results").([]any); len(res) != 0 {
			c.Errorf("search finds messages of a room the user is not in")
		}
	})
}

func TestMessages_Timestamp(t *testing.T) {
	t.Parallel()
	run(t, "TimestampToEvent", func(c *T) {
		u := c.user()
		room := u.createRoom(nil)
		id := u.send(room, "x")
		ts := time.Now().Add(time.Hour).UnixMilli()
		j := u.Must("GET", "/_matrix/client/v1"+p("/rooms/%s/timestamp_to_event", room)+"?dir=b&ts="+strconv.FormatInt(ts, 10), nil)
		if j["event_id"] != id {
			c.Errorf("closest event before now+1h %v, want %s", j, id)
		}
	})
}

func TestMedia(t *testing.T) {
	t.Parallel()
	upload := func(c *T, cl *Client, data []byte) string {
		req, err := http.NewRequestWithContext(c.Context(), "POST", c.baseURL()+"/_matrix/media/v3/upload?filename=a.txt", bytes.NewReader(data))
		if err != nil {
			c.Fatalf("request: %v", err)
		}
		req.Header.Set("Authorization", "Bearer "+cl.Token)
		req.Header.Set("Content-Type", "text/plain")
		res, err := httpClient.Do(req)
		if err != nil {
			c.Fatalf("upload: %v", err)
		}
		defer res.Body.Close()
		var j map[string]any
		_ = decodeReader(res.Body, &j)
		if res.StatusCode >= 500 {
			c.Errorf("upload: %d", res.StatusCode)
		}
		uri := str(j, "content_uri")
		if res.StatusCode != 200 || !strings.HasPrefix(uri, "mxc://") {
			c.Fatalf("upload: %d %v", res.StatusCode, j)
		}
		return uri
	}
	run(t, "Config", func(c *T) {
		j := c.user().Must("GET", "/_matrix/client/v1/media/config", nil)
		if _, ok := j["m.upload.size"].(float64); !ok {
			c.Errorf("no m.upload.size: %v", j)
		}
	})
	run(t, "UploadDownload", func(c *T) {
		u := c.user()
		data := []byte("hello media " + uniq("m"))
		uri := upload(c, u, data)
		sn, id, _ := strings.Cut(strings.TrimPrefix(uri, "mxc://"), "/")
		r := u.Do("GET", "/_matrix/client/v1"+p("/media/download/%s/%s", sn, id), nil)
		if r.Status != 200 || !bytes.Equal(r.Body, data) {
			c.Errorf("download: %s", r)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			c.Errorf("Content-Type %q", ct)
		}
	})
	run(t, "DownloadNeedsAuth", func(c *T) {
		u := c.user()
		uri := upload(c, u, []byte("private"))
		sn, id, _ := strings.Cut(strings.TrimPrefix(uri, "mxc://"), "/")
		c.anon().MustErr("GET", "/_matrix/client/v1"+p("/media/download/%s/%s", sn, id), nil, 401, "M_MISSING_TOKEN")
	})
	run(t, "DownloadUnknown", func(c *T) {
		c.user().MustErr("GET", "/_matrix/client/v1"+p("/media/download/%s/%s", c.server(), "nosuchmedia"), nil, 404, "M_NOT_FOUND")
	})
}
