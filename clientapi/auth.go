package clientapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"slices"
	"sync"
	"time"

	"scop/homeserver"
)

// User-interactive authentication (spec: "User-Interactive Authentication
// API"). Sessions live in memory: they last minutes, and a restart only
// makes the client start the flow again.

// uiaTTL bounds how long a client has to complete a flow.
const uiaTTL = 10 * time.Minute

// maxUIASessions bounds the memory that clients starting flows and never
// finishing them can take.
const maxUIASessions = 10000

// authDict is the "auth" object of a UIA request, with the fields of every
// stage SCoP offers.
type authDict struct {
	Type       string     `json:"type"`
	Session    string     `json:"session"`
	Identifier identifier `json:"identifier"`
	User       string     `json:"user"` // legacy m.login.password field
	Password   string     `json:"password"`
	Token      string     `json:"token"` // m.login.registration_token
}

// identifier is the spec's user identifier object; SCoP supports m.id.user.
type identifier struct {
	Type string `json:"type"`
	User string `json:"user"`
}

type uiaSession struct {
	action    string // what the session authorises, e.g. "register" or "password @a:b"
	created   time.Time
	completed []string
}

type uiaStore struct {
	mu       sync.Mutex
	sessions map[string]*uiaSession
}

func newUIAStore() *uiaStore { return &uiaStore{sessions: map[string]*uiaSession{}} }

// stageCheck verifies one stage's auth dict; a *homeserver.Error it
// returns is shown to the client beside the flows.
type stageCheck func(ctx context.Context, stage string, d *authDict) error

// check runs one step of a UIA flow for action. It returns ok when the
// session has completed one of flows; otherwise the 401 Response to send
// (flows, params, session, completed and, after a failed stage, the
// error). The session is deleted once a flow completes, so each completion
// authorises one request.
func (u *uiaStore) check(ctx context.Context, d *authDict, action string, flows [][]string, params map[string]any, verify stageCheck) (bool, any, error) {
	now := time.Now()
	u.mu.Lock()
	for id, s := range u.sessions {
		if now.Sub(s.created) > uiaTTL {
			delete(u.sessions, id)
		}
	}
	var sess *uiaSession
	id := ""
	if d != nil && d.Session != "" {
		id = d.Session
		sess = u.sessions[id]
		if sess == nil || sess.action != action {
			u.mu.Unlock()
			return false, nil, homeserver.Errorf(homeserver.ErrForbidden, "Unknown or expired auth session")
		}
	} else {
		if len(u.sessions) >= maxUIASessions {
			u.mu.Unlock()
			return false, nil, &homeserver.Error{Code: homeserver.ErrLimitExceeded, Message: "Too many authentication sessions in progress",
				Extra: map[string]any{"retry_after_ms": int64(time.Minute / time.Millisecond)}}
		}
		id = newSessionID()
		sess = &uiaSession{action: action, created: now}
		u.sessions[id] = sess
	}
	u.mu.Unlock()

	var stageErr error
	if d != nil && d.Type != "" {
		allowed := false
		for _, f := range flows {
			allowed = allowed || slices.Contains(f, d.Type)
		}
		if !allowed {
			stageErr = homeserver.Errorf(homeserver.ErrUnrecognized, "Auth type %q is not offered", d.Type)
		} else if err := verify(ctx, d.Type, d); err != nil {
			if _, ok := err.(*homeserver.Error); !ok {
				return false, nil, err
			}
			stageErr = err
		} else {
			u.mu.Lock()
			if !slices.Contains(sess.completed, d.Type) {
				sess.completed = append(sess.completed, d.Type)
			}
			u.mu.Unlock()
		}
	}

	u.mu.Lock()
	defer u.mu.Unlock()
	for _, f := range flows {
		done := true
		for _, st := range f {
			done = done && slices.Contains(sess.completed, st)
		}
		if done {
			delete(u.sessions, id)
			return true, nil, nil
		}
	}
	if params == nil {
		params = map[string]any{}
	}
	body := map[string]any{"session": id, "params": params}
	fl := make([]map[string]any, len(flows))
	for i, f := range flows {
		fl[i] = map[string]any{"stages": f}
	}
	body["flows"] = fl
	if len(sess.completed) > 0 {
		body["completed"] = slices.Clone(sess.completed)
	}
	if he, ok := stageErr.(*homeserver.Error); ok {
		body["errcode"], body["error"] = he.Code, he.Message
	}
	return false, Response{Status: http.StatusUnauthorized, Body: body}, nil
}

func newSessionID() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
