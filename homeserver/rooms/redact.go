package rooms

import (
	"context"
	"encoding/json"
	"fmt"

	gmsl "github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"scop/homeserver"
	"scop/homeserver/storage"
)

// Redact redacts an event (PUT /rooms/{roomId}/redact/{eventId}/{txnId}).
// The redaction and the stripped copy of its target are one write.
func (s *Service) Redact(ctx context.Context, dev homeserver.Device, roomID, eventID, txnID, reason string) (string, error) {
	v, err := s.viewOf(ctx, dev.UserID, roomID)
	if err != nil {
		return "", err
	}
	if v.leaveNID != 0 || s.membershipOf(dev.UserID, roomID).membership != spec.Join {
		return "", homeserver.Errorf(homeserver.ErrForbidden, "You are not in room %s", roomID)
	}
	target, err := s.visibleEvent(ctx, v, eventID)
	if err != nil {
		return "", err
	}
	if target.Sender != dev.UserID {
		level, pl := v.r.powerLevel(dev.UserID)
		need := int64(50)
		if pl != nil {
			need = pl.Redact
		}
		if level < need {
			return "", homeserver.Errorf(homeserver.ErrForbidden, "You may not redact other users' events")
		}
	}
	return s.withTxn(ctx, dev.UserID, dev.DeviceID, txnID, true, func() (string, error) {
		content := map[string]string{"redacts": eventID}
		if reason != "" {
			content["reason"] = reason
		}
		r, err := s.lockRoom(ctx, roomID)
		if err != nil {
			return "", err
		}
		b := &storage.Batch{}
		e, err := s.buildLocked(r, proto{Sender: dev.UserID, Type: spec.MRoomRedaction, Content: mustJSON(content),
			Redacts: eventID, TxnDevice: dev.DeviceID, TxnID: txnID}, b)
		if err != nil {
			r.mu.Unlock()
			return "", err
		}
		red, err := redactedCopy(r.ver, target, e)
		if err != nil {
			s.dropRoomLocked(r)
			r.mu.Unlock()
			return "", err
		}
		b.Redactions = append(b.Redactions, storage.Redaction{EventNID: red.NID, PDU: red.PDU.JSON(), Client: red.Client, Unsigned: red.Unsigned})
		if red.StateKey != nil {
			t := tuple{red.Type, *red.StateKey}
			if cur := r.state[t]; cur != nil && cur.ID == red.ID {
				r.state[t] = red
			}
		}
		done := s.submitLocked(r, b, []*Event{e}, func() { r.replace(red) })
		r.mu.Unlock()
		if err := wait(ctx, done); err != nil {
			return "", err
		}
		return e.ID, nil
	})
}

// redactedCopy returns target stripped by the room version's redaction
// algorithm, with redacted_because pointing at the redaction.
func redactedCopy(ver gmsl.IRoomVersion, target, redaction *Event) (*Event, error) {
	js, err := ver.RedactEventJSON(target.PDU.JSON())
	if err != nil {
		return nil, fmt.Errorf("redact %s: %w", target.ID, err)
	}
	pdu, err := ver.NewEventFromTrustedJSONWithEventID(target.ID, js, true)
	if err != nil {
		return nil, fmt.Errorf("redact %s: %w", target.ID, err)
	}
	client, err := clientJSON(pdu)
	if err != nil {
		return nil, err
	}
	red := *target
	red.PDU = pdu
	red.Client = client
	red.Unsigned = mustJSON(map[string]json.RawMessage{"redacted_because": redaction.JSON("", "")})
	return &red, nil
}

// replace swaps a redacted event into the reader caches.
func (r *room) replace(red *Event) {
	r.view.Lock()
	defer r.view.Unlock()
	for i, e := range r.recent {
		if e.ID == red.ID {
			// Readers iterate copies of the slice header outside the
			// lock: swap in a new array rather than writing in place.
			r.recent = append([]*Event(nil), r.recent...)
			r.recent[i] = red
			break
		}
	}
	if red.StateKey != nil {
		t := tuple{red.Type, *red.StateKey}
		if cur := r.cur[t]; cur != nil && cur.ID == red.ID {
			r.cur[t] = red
		}
	}
}
