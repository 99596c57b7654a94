package rooms

import (
	"context"
	"encoding/json"
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

// maxUnread caps the unread count read from the database (clients show
// large counts as "99+"), which bounds the cost of counting.
const maxUnread = 100

// unread counts the messages from others after the user's read receipt
// (or their own newest message, or their join): what the default push rules
// (.m.rule.message) notify for. Highlights are not computed.
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
	isMessage := func(t string) bool { return t == "m.room.message" || t == "m.room.encrypted" }
	n := 0
	for i := len(recent) - 1; i >= 0; i-- {
		e := recent[i]
		if e.Pos > pos {
			continue
		}
		if e.Pos <= after || e.Sender == userID {
			return &UnreadCounts{Notification: n}, nil
		}
		if isMessage(e.Type) {
			n++
		}
	}
	if floor <= after {
		return &UnreadCounts{Notification: n}, nil
	}
	s.namesMu.Lock()
	var types []int64
	for _, t := range []string{"m.room.message", "m.room.encrypted"} {
		if nid, ok := s.types[t]; ok {
			types = append(types, nid)
		}
	}
	s.namesMu.Unlock()
	older, err := s.db.CountEvents(ctx, r.nid, after, floor, types, userID, maxUnread)
	if err != nil {
		return nil, err
	}
	return &UnreadCounts{Notification: min(n+older, maxUnread)}, nil
}
