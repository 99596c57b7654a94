package rooms

import (
	"bytes"
	"encoding/json"
	"fmt"

	gmsl "github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"scop/homeserver/storage"
)

// Event is a committed (or being committed) event held in memory. It is
// immutable once published: a redaction replaces the pointer in caches.
type Event struct {
	NID         int64
	ID          string
	Pos         int64
	PDU         gmsl.PDU
	Type        string
	StateKey    *string
	Sender      string
	StateBefore int64
	TxnDevice   string
	TxnID       string
	// Client is the client-format JSON without "unsigned"; Unsigned is
	// the unsigned object. Both are pre-serialised once at build time.
	Client   []byte
	Unsigned []byte
}

// IsState reports whether the event is a state event.
func (e *Event) IsState() bool { return e.StateKey != nil }

// Membership returns the membership of an m.room.member event, else "".
func (e *Event) Membership() string {
	if e.Type != spec.MRoomMember {
		return ""
	}
	m, _ := e.PDU.Membership()
	return m
}

// JSON returns the client-format event as seen by device (the sender's
// device sees its transaction ID).
func (e *Event) JSON(userID, deviceID string) json.RawMessage {
	var b bytes.Buffer
	b.Grow(len(e.Client) + len(e.Unsigned) + 64)
	b.Write(e.Client[:len(e.Client)-1])
	b.WriteString(`,"unsigned":`)
	if e.TxnID != "" && e.Sender == userID && e.TxnDevice == deviceID {
		txn, _ := json.Marshal(e.TxnID)
		b.WriteString(`{"transaction_id":`)
		b.Write(txn)
		if len(e.Unsigned) > 2 {
			b.WriteByte(',')
			b.Write(e.Unsigned[1:])
		} else {
			b.WriteByte('}')
		}
	} else {
		b.Write(e.Unsigned)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// StrippedJSON returns the stripped state form used in invite_state.
func (e *Event) StrippedJSON() json.RawMessage {
	b, _ := json.Marshal(struct {
		Content  json.RawMessage `json:"content"`
		Sender   string          `json:"sender"`
		StateKey string          `json:"state_key"`
		Type     string          `json:"type"`
	}{e.PDU.Content(), e.Sender, *e.StateKey, e.Type})
	return b
}

type clientEvent struct {
	Content        json.RawMessage `json:"content"`
	EventID        string          `json:"event_id"`
	OriginServerTS spec.Timestamp  `json:"origin_server_ts"`
	Redacts        string          `json:"redacts,omitempty"`
	RoomID         string          `json:"room_id"`
	Sender         string          `json:"sender"`
	StateKey       *string         `json:"state_key,omitempty"`
	Type           string          `json:"type"`
}

// clientJSON renders the client format of pdu (without unsigned).
func clientJSON(pdu gmsl.PDU) ([]byte, error) {
	b, err := json.Marshal(clientEvent{
		Content: pdu.Content(), EventID: pdu.EventID(), OriginServerTS: pdu.OriginServerTS(),
		Redacts: pdu.Redacts(), RoomID: pdu.RoomID().String(), Sender: string(pdu.SenderID()),
		StateKey: pdu.StateKey(), Type: pdu.Type(),
	})
	if err != nil {
		return nil, fmt.Errorf("client json of %s: %w", pdu.EventID(), err)
	}
	return b, nil
}

// unsignedFor builds the unsigned object of a new state event that
// replaces prev (may be nil).
func unsignedFor(prev *Event) []byte {
	if prev == nil {
		return []byte("{}")
	}
	b, _ := json.Marshal(struct {
		PrevContent   json.RawMessage `json:"prev_content"`
		PrevSender    string          `json:"prev_sender"`
		ReplacesState string          `json:"replaces_state"`
	}{prev.PDU.Content(), prev.Sender, prev.ID})
	return b
}

// toStorage converts e for the batch.
func (e *Event) toStorage(roomNID, typeNID, keyNID int64) storage.Event {
	return storage.Event{
		NID: e.NID, EventID: e.ID, RoomNID: roomNID, TypeNID: typeNID, StateKeyNID: keyNID,
		IsState: e.StateKey != nil, Sender: e.Sender, StateBefore: e.StateBefore,
		TxnDevice: e.TxnDevice, TxnID: e.TxnID, PDU: e.PDU.JSON(), Client: e.Client, Unsigned: e.Unsigned,
	}
}

// eventFromStorage parses a stored event.
func eventFromStorage(ver gmsl.IRoomVersion, se storage.Event) (*Event, error) {
	pdu, err := ver.NewEventFromTrustedJSONWithEventID(se.EventID, se.PDU, false)
	if err != nil {
		return nil, fmt.Errorf("parse stored event %s: %w", se.EventID, err)
	}
	return &Event{
		NID: se.NID, ID: se.EventID, Pos: se.Pos, PDU: pdu, Type: pdu.Type(), StateKey: pdu.StateKey(),
		Sender: se.Sender, StateBefore: se.StateBefore, TxnDevice: se.TxnDevice, TxnID: se.TxnID,
		Client: se.Client, Unsigned: se.Unsigned,
	}, nil
}

// tuple is a (type, state key) pair.
type tuple struct{ typ, key string }

// stateMap is a room state: (type, state key) → event.
type stateMap map[tuple]*Event

// authProvider serves auth events straight from a state map, so event
// authorisation needs no database reads and no copying.
type authProvider stateMap

func (a authProvider) get(t, k string) (gmsl.PDU, error) {
	if e := a[tuple{t, k}]; e != nil {
		return e.PDU, nil
	}
	return nil, nil
}

// Create and the methods below implement gmsl.AuthEventProvider.
func (a authProvider) Create() (gmsl.PDU, error)      { return a.get(spec.MRoomCreate, "") }
func (a authProvider) JoinRules() (gmsl.PDU, error)   { return a.get(spec.MRoomJoinRules, "") }
func (a authProvider) PowerLevels() (gmsl.PDU, error) { return a.get(spec.MRoomPowerLevels, "") }
func (a authProvider) Member(k spec.SenderID) (gmsl.PDU, error) {
	return a.get(spec.MRoomMember, string(k))
}
func (a authProvider) ThirdPartyInvite(k string) (gmsl.PDU, error) {
	return a.get(spec.MRoomThirdPartyInvite, k)
}
func (a authProvider) Valid() bool { return true }

// messageAuth is the state a message is authorised against: the create
// event, the power levels and the sender's membership (any may be nil).
// It implements gmsl.AuthEventProvider without building a map per send.
type messageAuth struct {
	create, powerLevels, member *Event
	sender                      string
}

func pduOf(e *Event) gmsl.PDU {
	if e == nil {
		return nil
	}
	return e.PDU
}

// Create and the methods below implement gmsl.AuthEventProvider.
func (a *messageAuth) Create() (gmsl.PDU, error)      { return pduOf(a.create), nil }
func (a *messageAuth) JoinRules() (gmsl.PDU, error)   { return nil, nil }
func (a *messageAuth) PowerLevels() (gmsl.PDU, error) { return pduOf(a.powerLevels), nil }
func (a *messageAuth) Member(k spec.SenderID) (gmsl.PDU, error) {
	if string(k) != a.sender {
		return nil, nil
	}
	return pduOf(a.member), nil
}
func (a *messageAuth) ThirdPartyInvite(string) (gmsl.PDU, error) { return nil, nil }
func (a *messageAuth) Valid() bool                               { return true }

// userIDForSender maps sender IDs to user IDs; SCoP uses no pseudo IDs.
func userIDForSender(_ spec.RoomID, s spec.SenderID) (*spec.UserID, error) {
	return s.ToUserID(), nil
}
