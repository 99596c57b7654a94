package rooms

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"scop/homeserver"
	"scop/homeserver/storage"
)

type receiptKey struct{ user, typ, thread string }

// setReceipt records a committed receipt in the reader view.
func (r *room) setReceipt(rc storage.Receipt) {
	r.view.Lock()
	defer r.view.Unlock()
	if r.receipts == nil {
		r.receipts = map[receiptKey]storage.Receipt{}
	}
	r.receipts[receiptKey{rc.UserID, rc.Type, rc.ThreadID}] = rc
	r.rcptPos = max(r.rcptPos, rc.Pos)
}

// receiptEvent renders the m.receipt event of the receipts in (since, pos]
// visible to userID, or nil when there are none.
func (r *room) receiptEvent(userID string, since, pos int64) json.RawMessage {
	r.view.RLock()
	defer r.view.RUnlock()
	if r.rcptPos <= since {
		return nil
	}
	type entry struct {
		TS       int64  `json:"ts"`
		ThreadID string `json:"thread_id,omitempty"`
	}
	content := map[string]map[string]map[string]entry{}
	for k, rc := range r.receipts {
		if rc.Pos <= since || rc.Pos > pos || (k.typ == "m.read.private" && k.user != userID) {
			continue
		}
		byType := content[rc.EventID]
		if byType == nil {
			byType = map[string]map[string]entry{}
			content[rc.EventID] = byType
		}
		if byType[k.typ] == nil {
			byType[k.typ] = map[string]entry{}
		}
		byType[k.typ][k.user] = entry{TS: rc.TS, ThreadID: k.thread}
	}
	if len(content) == 0 {
		return nil
	}
	return mustJSON(map[string]any{"type": "m.receipt", "content": content})
}

// SendReceipt handles POST /rooms/{roomId}/receipt/{receiptType}/{eventId}.
func (s *Service) SendReceipt(ctx context.Context, dev homeserver.Device, roomID, typ, eventID, threadID string) error {
	switch typ {
	case "m.read", "m.read.private", "m.fully_read":
	default:
		return homeserver.Errorf(homeserver.ErrInvalidParam, "Unknown receipt type %q", typ)
	}
	if len(threadID) > 255 {
		return homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid thread_id")
	}
	v, err := s.viewOf(ctx, dev.UserID, roomID)
	if err != nil {
		return err
	}
	if v.leaveNID != 0 || s.membershipOf(dev.UserID, roomID).membership != spec.Join {
		return homeserver.Errorf(homeserver.ErrForbidden, "You are not in room %s", roomID)
	}
	target, err := s.visibleEvent(ctx, v, eventID)
	if err != nil {
		return err
	}
	if typ == "m.fully_read" {
		return s.putAccountData(ctx, dev.UserID, roomID, "m.fully_read", mustJSON(map[string]string{"event_id": eventID}))
	}
	r := v.r
	b := &storage.Batch{Receipts: []storage.Receipt{{RoomNID: r.nid, UserID: dev.UserID, Type: typ, ThreadID: threadID,
		EventID: eventID, EventPos: target.Pos, TS: time.Now().UnixMilli()}}}
	done := s.commit.submit(b, func() { r.setReceipt(b.Receipts[0]) })
	return wait(ctx, done)
}

// SetReadMarkers handles POST /rooms/{roomId}/read_markers.
func (s *Service) SetReadMarkers(ctx context.Context, dev homeserver.Device, roomID, fullyRead, read, readPrivate string) error {
	for _, m := range []struct{ typ, id string }{{"m.fully_read", fullyRead}, {"m.read", read}, {"m.read.private", readPrivate}} {
		if m.id == "" {
			continue
		}
		if err := s.SendReceipt(ctx, dev, roomID, m.typ, m.id, ""); err != nil {
			return err
		}
	}
	return nil
}

// UnreadCounts is a joined room's unread_notifications.
type UnreadCounts struct {
	Highlight    int `json:"highlight_count"`
	Notification int `json:"notification_count"`
}

// maxUnread caps the counts (clients show large counts as "99+"), and
// maxUnreadScan the events a count from scratch looks at, which bounds
// its cost.
const (
	maxUnread     = 100
	maxUnreadScan = 300
)

// unread counts the events after the user's read receipt (or their own
// newest event, or their join) whose push actions notify, and those of
// them that highlight. A count is cached per room and user and extended
// by the events since, so a sync evaluates each new event once per
// member; it starts over when the receipt moves. Events are counted with
// the rules of when they were first counted (PutPushRules settles the
// counts before the rules change).
func (s *Service) unread(ctx context.Context, r *room, userID string, joinedAt, pos int64) (*UnreadCounts, error) {
	r.view.RLock()
	after := joinedAt // nothing from before the join is unread
	for _, typ := range []string{"m.read", "m.read.private"} {
		if rc, ok := r.receipts[receiptKey{userID, typ, ""}]; ok {
			after = max(after, rc.EventPos)
		}
	}
	recent, floor := r.recent, r.floor
	r.view.RUnlock()
	ur, err := s.evaluator(ctx, userID)
	if err != nil {
		return nil, err
	}
	ignored, err := s.ignoredUsers(ctx, userID)
	if err != nil {
		return nil, err
	}
	ps := s.pushState()
	key := countKey{r, userID}
	ps.mu.Lock()
	ce, cached := ps.counts[key]
	ps.mu.Unlock()
	var c UnreadCounts
	switch {
	case cached && ce.after == after && ce.pos == pos:
		c = ce.counts
	case cached && ce.after == after && ce.pos < pos && floor <= ce.pos:
		c = ce.counts
		rp := s.roomPush(r)
		for _, e := range recent {
			if e.Pos <= ce.pos || e.Pos > pos {
				continue
			}
			if e.Sender == userID {
				c = UnreadCounts{}
				continue
			}
			c.add(s.actions(rp, ur, userID, e, ignored, true))
		}
	default:
		if c, err = s.countBack(ctx, r, ur, ignored, userID, after, pos, recent, floor); err != nil {
			return nil, err
		}
	}
	if !cached || ce.pos <= pos || ce.after != after {
		ps.mu.Lock()
		ps.counts[key] = countEntry{after: after, pos: pos, counts: c}
		ps.mu.Unlock()
	}
	return &UnreadCounts{Notification: min(c.Notification, maxUnread), Highlight: min(c.Highlight, maxUnread)}, nil
}

// countBack counts from scratch, newest first, from pos back to after
// or the user's own newest event: the recent window first, then the
// database, at most maxUnreadScan events.
func (s *Service) countBack(ctx context.Context, r *room, ur *userRules, ignored map[string]bool, userID string, after, pos int64, recent []*Event, floor int64) (UnreadCounts, error) {
	var c UnreadCounts
	rp := s.roomPush(r)
	scanned := 0
	visit := func(e *Event, keep bool) bool {
		if e.Pos > pos {
			return true
		}
		if e.Pos <= after || e.Sender == userID || scanned >= maxUnreadScan || c.Notification >= maxUnread {
			return false
		}
		scanned++
		c.add(s.actions(rp, ur, userID, e, ignored, keep))
		return true
	}
	for i := len(recent) - 1; i >= 0; i-- {
		if !visit(recent[i], true) {
			return c, nil
		}
	}
	to := min(floor, pos)
	for to > after {
		stored, err := s.db.RoomEvents(ctx, r.nid, after, to, 100, true)
		if err != nil {
			return c, fmt.Errorf("unread of %s in %s: %w", userID, r.id, err)
		}
		if len(stored) == 0 {
			break
		}
		for _, se := range stored {
			e := lightEvent(se)
			if !visit(e, false) {
				return c, nil
			}
			to = e.Pos - 1
		}
	}
	return c, nil
}
