package sytest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// httpClient is shared by all test clients; the long timeout covers
// long-polling syncs.
var httpClient = &http.Client{Timeout: 90 * time.Second}

// password is every test user's password.
const password = "sytest-Password-1"

// serverName is learned from the first registered user ID.
var serverName struct {
	mu   sync.Mutex
	name string
}

func setServerName(userID string) {
	_, host, ok := strings.Cut(userID, ":")
	if !ok {
		return
	}
	serverName.mu.Lock()
	defer serverName.mu.Unlock()
	if serverName.name == "" {
		serverName.name = host
	}
}

// server returns the homeserver's name (registering a user first if needed).
func (c *T) server() string {
	serverName.mu.Lock()
	name := serverName.name
	serverName.mu.Unlock()
	if name == "" {
		c.user()
		serverName.mu.Lock()
		name = serverName.name
		serverName.mu.Unlock()
	}
	return name
}

// runPrefix keeps names unique across runs against a long-lived server.
var runPrefix = func() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "st" + hex.EncodeToString(b)
}()

var nameCounter atomic.Int64

// uniq returns a fresh lowercase identifier.
func uniq(kind string) string {
	return fmt.Sprintf("%s%s%d", runPrefix, kind, nameCounter.Add(1))
}

// Client is one logged-in device (or an anonymous client when token is "").
type Client struct {
	c        *T
	Token    string
	UserID   string
	DeviceID string
	Local    string
}

// Resp is one HTTP answer.
type Resp struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
	desc   string
}

// Errcode is the body's errcode, if any.
func (r *Resp) Errcode() string { s, _ := r.JSON["errcode"].(string); return s }

func (r *Resp) String() string {
	b := r.Body
	if len(b) > 600 {
		b = append(b[:600:600], "..."...)
	}
	return fmt.Sprintf("%s → %d %s", r.desc, r.Status, b)
}

// anon is a client with no access token.
func (c *T) anon() *Client { return &Client{c: c} }

// p builds a path, escaping each argument as one path segment the way
// browser clients do (encodeURIComponent: '@' and ':' become %40 and %3A),
// so servers are tested on the encoding real clients send.
func p(format string, args ...any) string {
	esc := make([]any, len(args))
	for i, a := range args {
		esc[i] = escapeSegment(fmt.Sprint(a))
	}
	return fmt.Sprintf(format, esc...)
}

// escapeSegment percent-encodes all but encodeURIComponent's unreserved set.
func escapeSegment(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || strings.IndexByte("-_.!~*'()", ch) >= 0 {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

// cs prefixes a Client-Server v3 path.
func cs(format string, args ...any) string { return "/_matrix/client/v3" + p(format, args...) }

// Do sends a request. body is nil, []byte or string (sent raw) or a value
// marshalled as JSON. Any 5xx is recorded as a failure: bad input must
// never make the server fail.
func (cl *Client) Do(method, path string, body any) *Resp {
	return cl.DoHeaders(method, path, body, nil)
}

// DoHeaders is Do with extra request headers.
func (cl *Client) DoHeaders(method, path string, body any, hdr map[string]string) *Resp {
	r, err := cl.try(method, path, body, hdr)
	if err != nil {
		cl.c.Fatalf("%v", err)
	}
	if r.Status >= 500 {
		cl.c.Errorf("server error: %s", r)
	}
	return r
}

// try sends a request and returns transport errors instead of failing the
// test (for requests racing a server crash).
func (cl *Client) try(method, path string, body any, hdr map[string]string) (*Resp, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("marshal request: %w", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(cl.c.Context(), method, cl.c.baseURL()+path, rd)
	if err != nil {
		return nil, fmt.Errorf("new request %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cl.Token != "" {
		req.Header.Set("Authorization", "Bearer "+cl.Token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	desc := method + " " + path
	res, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", desc, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: reading body: %w", desc, err)
	}
	r := &Resp{Status: res.StatusCode, Header: res.Header, Body: b, desc: desc}
	_ = json.Unmarshal(b, &r.JSON)
	return r, nil
}

// Must sends a request and fails the test unless it answers 200; it
// returns the JSON body.
func (cl *Client) Must(method, path string, body any) map[string]any {
	r := cl.Do(method, path, body)
	if r.Status != 200 {
		cl.c.Fatalf("want 200: %s", r)
	}
	if r.JSON == nil {
		cl.c.Fatalf("want a JSON object: %s", r)
	}
	return r.JSON
}

// MustErr sends a request and checks the status and errcode ("" skips
// the errcode check).
func (cl *Client) MustErr(method, path string, body any, status int, errcode string) *Resp {
	r := cl.Do(method, path, body)
	cl.c.wantErr(r, status, errcode)
	return r
}

// wantErr checks an error answer; status 4 means any 4xx.
func (c *T) wantErr(r *Resp, status int, errcode string) {
	switch {
	case status == 4 && (r.Status < 400 || r.Status > 499):
		c.Errorf("want a 4xx: %s", r)
	case status != 4 && r.Status != status:
		c.Errorf("want status %d: %s", status, r)
	case errcode != "" && r.Errcode() != errcode:
		c.Errorf("want errcode %s: %s", errcode, r)
	case errcode == "" && r.Errcode() == "":
		c.Errorf("want an errcode: %s", r)
	}
}

// user registers a fresh user through the m.login.dummy stage.
func (c *T) user() *Client { return c.userNamed(uniq("u")) }

func (c *T) userNamed(local string) *Client {
	a := c.anon()
	body := map[string]any{"username": local, "password": password}
	r := a.Do("POST", cs("/register"), body)
	if r.Status != 401 {
		c.Fatalf("register %s: want 401 with UIA session: %s", local, r)
	}
	session, _ := r.JSON["session"].(string)
	body["auth"] = map[string]any{"type": "m.login.dummy", "session": session}
	j := a.Must("POST", cs("/register"), body)
	cl := &Client{c: c, Local: local}
	cl.Token, _ = j["access_token"].(string)
	cl.UserID, _ = j["user_id"].(string)
	cl.DeviceID, _ = j["device_id"].(string)
	if cl.Token == "" || cl.UserID == "" {
		c.Fatalf("register %s: no access_token or user_id: %v", local, j)
	}
	setServerName(cl.UserID)
	return cl
}

// login logs in as cl's user again, giving a new device.
func (cl *Client) login() *Client {
	j := cl.c.anon().Must("POST", cs("/login"), map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": cl.Local},
		"password":   password,
	})
	n := &Client{c: cl.c, Local: cl.Local}
	n.Token, _ = j["access_token"].(string)
	n.UserID, _ = j["user_id"].(string)
	n.DeviceID, _ = j["device_id"].(string)
	return n
}

// createRoom creates a room and returns its ID.
func (cl *Client) createRoom(body map[string]any) string {
	if body == nil {
		body = map[string]any{}
	}
	j := cl.Must("POST", cs("/createRoom"), body)
	id, _ := j["room_id"].(string)
	if !strings.HasPrefix(id, "!") {
		cl.c.Fatalf("createRoom: bad room_id in %v", j)
	}
	return id
}

// publicRoom creates a public_chat room.
func (cl *Client) publicRoom() string {
	return cl.createRoom(map[string]any{"preset": "public_chat"})
}

func (cl *Client) join(roomIDOrAlias string) {
	cl.Must("POST", cs("/join/%s", roomIDOrAlias), map[string]any{})
}

var txnCounter atomic.Int64

func txn() string { return "t" + strconv.FormatInt(txnCounter.Add(1), 10) }

// send sends an m.room.message text and returns its event ID.
func (cl *Client) send(roomID, text string) string {
	j := cl.Must("PUT", cs("/rooms/%s/send/m.room.message/%s", roomID, txn()),
		map[string]any{"msgtype": "m.text", "body": text})
	id, _ := j["event_id"].(string)
	if !strings.HasPrefix(id, "$") {
		cl.c.Fatalf("send: bad event_id in %v", j)
	}
	return id
}

// setState sends a state event and returns its ID.
func (cl *Client) setState(roomID, typ, key string, content any) string {
	j := cl.Must("PUT", cs("/rooms/%s/state/%s/", roomID, typ)+escapeSegment(key), content)
	id, _ := j["event_id"].(string)
	return id
}

// Event is a client-format event.
type Event struct {
	Type           string         `json:"type"`
	StateKey       *string        `json:"state_key,omitempty"`
	Sender         string         `json:"sender"`
	EventID        string         `json:"event_id"`
	RoomID         string         `json:"room_id"`
	Content        map[string]any `json:"content"`
	Unsigned       map[string]any `json:"unsigned"`
	OriginServerTS int64          `json:"origin_server_ts"`
	Redacts        string         `json:"redacts"`
}

// Events is a list of events with lookups.
type Events []Event

// ids lists the event IDs.
func (es Events) ids() []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.EventID
	}
	return out
}

// find returns the first event of a type (and state key, when key is not nil).
func (es Events) find(typ string, key *string) *Event {
	for i := range es {
		e := &es[i]
		if e.Type == typ && (key == nil || (e.StateKey != nil && *e.StateKey == *key)) {
			return e
		}
	}
	return nil
}

func (es Events) has(id string) bool {
	for _, e := range es {
		if e.EventID == id {
			return true
		}
	}
	return false
}

func sp(s string) *string { return &s }

// Sync is a /sync response.
type Sync struct {
	NextBatch   string `json:"next_batch"`
	AccountData struct {
		Events Events `json:"events"`
	} `json:"account_data"`
	Presence struct {
		Events Events `json:"events"`
	} `json:"presence"`
	ToDevice struct {
		Events Events `json:"events"`
	} `json:"to_device"`
	OneTimeKeysCount map[string]any `json:"device_one_time_keys_count"`
	DeviceLists      struct {
		Changed []string `json:"changed"`
		Left    []string `json:"left"`
	} `json:"device_lists"`
	Rooms struct {
		Join   map[string]JoinedRoom `json:"join"`
		Invite map[string]struct {
			InviteState struct {
				Events Events `json:"events"`
			} `json:"invite_state"`
		} `json:"invite"`
		Leave map[string]struct {
			Timeline Timeline `json:"timeline"`
			State    struct {
				Events Events `json:"events"`
			} `json:"state"`
		} `json:"leave"`
	} `json:"rooms"`
}

// JoinedRoom is one room of rooms.join.
type JoinedRoom struct {
	Timeline Timeline `json:"timeline"`
	State    struct {
		Events Events `json:"events"`
	} `json:"state"`
	AccountData struct {
		Events Events `json:"events"`
	} `json:"account_data"`
	Ephemeral struct {
		Events Events `json:"events"`
	} `json:"ephemeral"`
	Summary             map[string]any `json:"summary"`
	UnreadNotifications map[string]any `json:"unread_notifications"`
}

// Timeline is a room's timeline section.
type Timeline struct {
	Events    Events `json:"events"`
	Limited   bool   `json:"limited"`
	PrevBatch string `json:"prev_batch"`
}

// sync calls /sync with the given query (already encoded, may be "").
func (cl *Client) sync(query string) *Sync {
	path := cs("/sync")
	if query != "" {
		path += "?" + query
	}
	r := cl.Do("GET", path, nil)
	if r.Status != 200 {
		cl.c.Fatalf("sync: %s", r)
	}
	var s Sync
	if err := json.Unmarshal(r.Body, &s); err != nil {
		cl.c.Fatalf("sync: decode: %v in %s", err, r)
	}
	if s.NextBatch == "" {
		cl.c.Fatalf("sync: no next_batch: %s", r)
	}
	return &s
}

// syncUntil long-polls from since until cond holds (up to 30s), returning
// the matching response and the token after it.
func (cl *Client) syncUntil(since, filter string, cond func(*Sync) bool) *Sync {
	deadline := time.Now().Add(30 * time.Second)
	for {
		q := url.Values{"timeout": {"3000"}}
		if since != "" {
			q.Set("since", since)
		}
		if filter != "" {
			q.Set("filter", filter)
		}
		s := cl.sync(q.Encode())
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			cl.c.Fatalf("sync: condition not met within 30s (last since=%s)", since)
		}
		since = s.NextBatch
	}
}

// get walks a decoded JSON value by object keys and array indexes.
func get(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func str(v any, keys ...any) string { s, _ := get(v, keys...).(string); return s }

// decode re-decodes a JSON value into out.
func decode(c *T, v any, out any) {
	b, _ := json.Marshal(v)
	if err := json.Unmarshal(b, out); err != nil {
		c.Fatalf("decode %s: %v", b, err)
	}
}

// contains reports whether list (a []any of strings) holds s.
func contains(list any, s string) bool {
	a, _ := list.([]any)
	for _, x := range a {
		if x == s {
			return true
		}
	}
	return false
}

func decodeBytes(b []byte, out any) error { return json.Unmarshal(b, out) }

func decodeReader(r io.Reader, out any) error { return json.NewDecoder(r).Decode(out) }
