package push

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Source is the room stream the worker follows (the rooms service).
type Source interface {
	// StreamPosition returns the committed position and a channel
	// closed at the next change.
	StreamPosition() (int64, <-chan struct{})
	// PushNotices returns the events after from (up to limit, in order)
	// with, for each, those of users (local users; read-only) whose push
	// rules notify, and the position reached.
	PushNotices(ctx context.Context, from int64, limit int, users map[string]bool) ([]Notice, int64, error)
	// UnreadTotal is the user's notification count over all joined rooms.
	UnreadTotal(ctx context.Context, userID string) (int, error)
}

// Notice is one event with the users its push rules notify.
type Notice struct {
	Pos               int64
	EventID           string
	RoomID            string
	Type              string
	Sender            string
	StateKey          *string
	Content           json.RawMessage
	SenderDisplayName string
	RoomName          string
	Targets           []Target
}

// Target is one user's actions for a notice.
type Target struct {
	UserID  string
	Actions Actions
}

const (
	scanLimit    = 200
	persistEvery = 5 * time.Second
)

type worker struct {
	svc       *Service
	src       Source
	pos       int64
	persisted int64
	savedAt   time.Time
}

func (w *worker) run(ctx context.Context) {
	defer w.persist(true)
	for ctx.Err() == nil {
		cur, changed := w.src.StreamPosition()
		if w.pos >= cur {
			w.persist(false)
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
			continue
		}
		if err := w.step(ctx); err != nil && ctx.Err() == nil {
			w.svc.opts.Log.Error("push notifications", "err", err)
			if !sleep(ctx, w.svc.opts.MinBackoff) {
				return
			}
		}
	}
}

// step notifies for the events after the position and advances; an
// undeliverable notification is dropped after MaxAttempts.
func (w *worker) step(ctx context.Context) error {
	users := w.svc.pusherUsers()
	if len(users) == 0 {
		// Nobody to notify: skip the stream without reading it.
		w.pos, _ = w.src.StreamPosition()
		w.persist(false)
		return nil
	}
	notices, reached, err := w.src.PushNotices(ctx, w.pos, scanLimit, users)
	if err != nil {
		return err
	}
	for _, n := range notices {
		for _, t := range n.Targets {
			if !t.Actions.Notify {
				continue
			}
			if !w.notifyUser(ctx, n, t) {
				return nil // stopping: resume from the last position
			}
		}
		w.pos = n.Pos
	}
	w.pos = reached
	w.persist(false)
	return nil
}

// notifyUser posts n to each of the user's pushers; false when ctx ended.
func (w *worker) notifyUser(ctx context.Context, n Notice, t Target) bool {
	unread, err := w.src.UnreadTotal(ctx, t.UserID)
	if err != nil {
		w.svc.opts.Log.Warn("push: unread count", "user", t.UserID, "err", err)
	}
	for _, p := range w.svc.Pushers(ctx, t.UserID) {
		gw, data, idOnly, err := p.gateway()
		if err != nil {
			w.svc.opts.Log.Warn("push: bad pusher", "user", p.UserID, "app_id", p.AppID, "err", err)
			continue
		}
		body, err := json.Marshal(map[string]any{"notification": notification(n, t, p, data, idOnly, unread)})
		if err != nil {
			continue
		}
		rejected, ok := w.deliver(ctx, gw, body)
		if ctx.Err() != nil {
			return false
		}
		if ok && rejected[p.PushKey] {
			if err := w.svc.reject(ctx, p); err != nil {
				w.svc.opts.Log.Error("push: remove rejected pushkey", "user", p.UserID, "app_id", p.AppID, "err", err)
			} else {
				w.svc.opts.Log.Info("push: gateway rejected pushkey; pusher removed", "user", p.UserID, "app_id", p.AppID)
			}
		}
	}
	return true
}

// notification renders the Push Gateway API's notification object.
func notification(n Notice, t Target, p Pusher, data map[string]any, idOnly bool, unread int) map[string]any {
	tweaks := t.Actions.Tweaks
	if tweaks == nil {
		tweaks = map[string]any{}
	}
	prio := "low"
	if t.Actions.Highlight || t.Actions.Sound != "" {
		prio = "high"
	}
	out := map[string]any{
		"event_id": n.EventID,
		"room_id":  n.RoomID,
		"prio":     prio,
		"counts":   map[string]int{"unread": unread},
		"devices": []map[string]any{{"app_id": p.AppID, "pushkey": p.PushKey, "pushkey_ts": p.PushKeyTS / 1000,
			"data": data, "tweaks": tweaks}},
	}
	if idOnly {
		return out
	}
	out["type"] = n.Type
	out["sender"] = n.Sender
	if n.SenderDisplayName != "" {
		out["sender_display_name"] = n.SenderDisplayName
	}
	if n.RoomName != "" {
		out["room_name"] = n.RoomName
	}
	if len(n.Content) > 0 {
		out["content"] = n.Content
	}
	if n.StateKey != nil && *n.StateKey == t.UserID {
		out["user_is_target"] = true
	}
	return out
}

// deliver posts body until the gateway answers 2xx (backing off), at
// most MaxAttempts times; it returns the rejected pushkeys.
func (w *worker) deliver(ctx context.Context, gw string, body []byte) (map[string]bool, bool) {
	wait := w.svc.opts.MinBackoff
	for attempt := 1; ; attempt++ {
		rejected, err := w.post(ctx, gw, body)
		if err == nil {
			return rejected, true
		}
		if ctx.Err() != nil {
			return nil, false
		}
		if attempt >= w.svc.opts.MaxAttempts {
			w.svc.opts.Log.Warn("push: gateway unreachable; notification dropped", "url", gw, "attempts", attempt, "err", err)
			return nil, false
		}
		w.svc.opts.Log.Warn("push: gateway failed; retrying", "url", gw, "retry_in", wait, "err", err)
		if !sleep(ctx, wait) {
			return nil, false
		}
		wait = min(wait*2, w.svc.opts.MaxBackoff)
	}
}

func (w *worker) post(ctx context.Context, gw string, body []byte) (map[string]bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, gw, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("notify %s: %w", gw, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.svc.opts.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("notify %s: %w", gw, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("notify %s: status %d", gw, resp.StatusCode)
	}
	var r struct {
		Rejected []string `json:"rejected"`
	}
	_ = json.Unmarshal(data, &r) // a body without rejected rejects nothing
	out := map[string]bool{}
	for _, k := range r.Rejected {
		out[k] = true
	}
	return out, nil
}

// persist records the position: always when force, else at most every
// persistEvery (a restart re-notifies at most that window).
func (w *worker) persist(force bool) {
	if w.pos == w.persisted || !force && time.Since(w.savedAt) < persistEvery {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.svc.store.SetPosition(ctx, w.pos); err != nil {
		w.svc.opts.Log.Error("push: position not saved", "err", err)
		return
	}
	w.persisted, w.savedAt = w.pos, time.Now()
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
