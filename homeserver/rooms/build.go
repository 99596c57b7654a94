package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	gmsl "github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"scop/homeserver"
	"scop/homeserver/storage"
)

// proto is an event to build: what a client asked for.
type proto struct {
	Sender    string
	Type      string
	StateKey  *string
	Content   json.RawMessage
	Redacts   string
	TxnDevice string
	TxnID     string
}

func strPtr(s string) *string { return &s }

// lockRoom returns the room locked for building, reloading it if a failed
// write invalidated it.
func (s *Service) lockRoom(ctx context.Context, roomID string) (*room, error) {
	for range 3 {
		r, err := s.room(ctx, roomID)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		if !r.broken.Load() {
			return r, nil
		}
		r.mu.Unlock()
	}
	return nil, fmt.Errorf("room %s: cache kept failing", roomID)
}

// validateProto checks what a client controls before anything is built.
func validateProto(ver gmsl.IRoomVersion, p proto) error {
	if len(p.Type) == 0 || len(p.Type) > 255 {
		return homeserver.Errorf(homeserver.ErrInvalidParam, "Invalid event type")
	}
	if p.StateKey != nil && len(*p.StateKey) > 255 {
		return homeserver.Errorf(homeserver.ErrInvalidParam, "State key too long")
	}
	if p.Type == spec.MRoomPowerLevels {
		var pl gmsl.PowerLevelContent
		if err := ver.ParsePowerLevels(p.Content, &pl); err != nil {
			return homeserver.Errorf(homeserver.ErrBadJSON, "Invalid power levels: %v", err)
		}
	}
	return nil
}

// buildPDU builds, hashes, signs and authorises an event with the given
// prev_events and depth against auth (the state before it), and returns
// its client format when the fast path rendered it (else nil). It touches
// no room state, so it may run outside the room lock.
func (s *Service) buildPDU(ver gmsl.IRoomVersion, roomID string, p proto, prev []string, depth int64, auth gmsl.AuthEventProvider) (gmsl.PDU, []byte, error) {
	now := time.Now()
	if pdu, client, ok := s.fastBuild(ver, roomID, p, prev, depth, auth, now); ok {
		if err := allowedFast(pdu, auth); err != nil {
			return nil, nil, err
		}
		return pdu, client, nil
	}
	if p.Type == spec.MRoomCreate && p.StateKey != nil && *p.StateKey == "" && ver.DomainlessRoomIDs() {
		roomID = "" // v12: the room ID is derived from the create event
	}
	eb := ver.NewEventBuilderFromProtoEvent(&gmsl.ProtoEvent{
		SenderID: p.Sender, RoomID: roomID, Type: p.Type, StateKey: p.StateKey, Content: spec.RawJSON(p.Content),
		Redacts: p.Redacts, PrevEvents: prev, Depth: depth,
	})
	if err := eb.AddAuthEvents(auth); err != nil {
		return nil, nil, homeserver.Errorf(homeserver.ErrBadJSON, "Cannot build event: %v", err)
	}
	pdu, err := eb.Build(now, spec.ServerName(s.id.ServerName), gmsl.KeyID(s.id.KeyID), s.id.Key)
	if err != nil {
		var ve gmsl.EventValidationError
		var vp *gmsl.EventValidationError
		if (errors.As(err, &ve) && ve.Code == gmsl.EventValidationTooLarge) || (errors.As(err, &vp) && vp.Code == gmsl.EventValidationTooLarge) {
			return nil, nil, &homeserver.Error{Code: homeserver.ErrTooLarge, Message: "Event too large", Status: 413}
		}
		return nil, nil, homeserver.Errorf(homeserver.ErrBadJSON, "Cannot build event: %v", err)
	}
	if err := allowed(pdu, auth); err != nil {
		return nil, nil, err
	}
	return pdu, nil, nil
}

// allowed runs the auth rules: M_FORBIDDEN when not allowed, M_BAD_JSON
// for a malformed event (e.g. a v12 creator listed in the power levels).
func allowed(pdu gmsl.PDU, auth gmsl.AuthEventProvider) error {
	if err := gmsl.Allowed(pdu, auth, userIDForSender); err != nil {
		var ve *gmsl.EventValidationError
		if errors.As(err, &ve) {
			return homeserver.Errorf(homeserver.ErrBadJSON, "Invalid event: %v", err)
		}
		return homeserver.Errorf(homeserver.ErrForbidden, "Event not allowed: %v", err)
	}
	return nil
}

// newEvent wraps a built PDU; client is its client format if already
// rendered.
func (s *Service) newEvent(pdu gmsl.PDU, client []byte, p proto, stateBefore int64) (*Event, error) {
	if client == nil {
		var err error
		if client, err = clientJSON(pdu); err != nil {
			return nil, err
		}
	}
	return &Event{
		NID: s.nextEvent.Add(1), ID: pdu.EventID(), PDU: pdu, Type: pdu.Type(), StateKey: pdu.StateKey(),
		Sender: string(pdu.SenderID()), StateBefore: stateBefore, TxnDevice: p.TxnDevice, TxnID: p.TxnID,
		Client: client, Unsigned: []byte("{}"),
	}, nil
}

// buildLocked builds, signs and authorises one event on top of r's
// current state and applies it to r's build view, appending its writes to
// b. r.mu must be held. Nothing is applied when it fails.
func (s *Service) buildLocked(r *room, p proto, b *storage.Batch) (*Event, error) {
	if err := validateProto(r.ver, p); err != nil {
		return nil, err
	}
	prev := r.prevEvents()
	pdu, client, err := s.buildPDU(r.ver, r.id, p, prev, r.depth+1, authProvider(r.state))
	if err != nil {
		return nil, err
	}
	if r.id == "" {
		r.id = pdu.RoomID().String()
	}
	e, err := s.newEvent(pdu, client, p, r.snapshot)
	if err != nil {
		return nil, err
	}
	typeNID, keyNID := s.nameNIDs(b, e.Type, e.StateKey)
	if e.StateKey != nil {
		t := tuple{e.Type, *e.StateKey}
		e.Unsigned = unsignedFor(r.state[t])
		r.state[t] = e
		s.addSnapshotLocked(r, b, storage.StateEntry{TypeNID: typeNID, StateKeyNID: keyNID, EventNID: e.NID})
		if e.Type == spec.MRoomMember {
			b.Memberships = append(b.Memberships, storage.Membership{
				UserID: *e.StateKey, RoomNID: r.nid, RoomID: r.id, Membership: e.Membership(), EventNID: e.NID,
			})
		}
	}
	b.Events = append(b.Events, e.toStorage(r.nid, typeNID, keyNID))
	r.advance(prev, e.ID, pdu.Depth())
	return e, nil
}

// prevEvents returns the prev_events for a new event: the newest forward
// extremities, never nil (GMSL needs []). r.mu held.
func (r *room) prevEvents() []string {
	prev := r.latest[max(len(r.latest)-maxPrevEvents, 0):]
	return append(make([]string, 0, len(prev)), prev...)
}

// advance makes id a forward extremity in place of the prev events it
// references. r.mu held.
func (r *room) advance(prev []string, id string, depth int64) {
	latest := make([]string, 0, len(r.latest)+1)
	for _, x := range r.latest {
		if !slices.Contains(prev, x) {
			latest = append(latest, x)
		}
	}
	r.latest = append(latest, id)
	r.depth = max(r.depth, depth)
	r.remember(id)
}

// recentIDs is how many applied event IDs a room remembers to catch
// identical events built concurrently.
const recentIDs = 256

// remember records an applied event ID (r.mu held).
func (r *room) remember(id string) {
	if r.idSet == nil {
		r.idSet = make(map[string]struct{}, recentIDs)
	}
	if old := r.idRing[r.idAt]; old != "" {
		delete(r.idSet, old)
	}
	r.idRing[r.idAt] = id
	r.idAt = (r.idAt + 1) % recentIDs
	r.idSet[id] = struct{}{}
}

// seen reports whether id was applied recently (r.mu held).
func (r *room) seen(id string) bool {
	_, ok := r.idSet[id]
	return ok
}

// maxPrevEvents caps prev_events (the spec allows 20).
const maxPrevEvents = 10

// sendMessage sends one non-state event. Only reading the room head and
// appending the result hold the room lock; hashing and signing, the
// costly part, run in parallel with other senders. Messages built
// concurrently share prev_events (a fork in the DAG); the next event
// references all forward extremities and joins them again. Messages
// change no state, so no state resolution is needed.
func (s *Service) sendMessage(ctx context.Context, roomID string, p proto) (*Event, error) {
	s.commit.building.Add(1)
	building := true
	defer func() {
		if building {
			s.commit.building.Add(-1)
		}
	}()
	r, err := s.lockRoom(ctx, roomID)
	if err != nil {
		if errors.Is(err, errNoRoom) {
			return nil, homeserver.Errorf(homeserver.ErrForbidden, "You are not in room %s", roomID)
		}
		return nil, err
	}
	if err := validateProto(r.ver, p); err != nil {
		r.mu.Unlock()
		return nil, err
	}
	prev := r.prevEvents()
	depth, snap := r.depth+1, r.snapshot
	// A message is authorised by the create event, the power levels and
	// the sender's membership: copy just those out of the room state
	// (events are immutable, so they can be read without the lock).
	auth := &messageAuth{create: r.state[tuple{spec.MRoomCreate, ""}], powerLevels: r.state[tuple{spec.MRoomPowerLevels, ""}],
		sender: p.Sender, member: r.state[tuple{spec.MRoomMember, p.Sender}]}
	r.mu.Unlock()

	pdu, client, err := s.buildPDU(r.ver, roomID, p, prev, depth, auth)
	if err != nil {
		return nil, err
	}
	e, err := s.newEvent(pdu, client, p, snap)
	if err != nil {
		return nil, err
	}

	r.mu.Lock()
	if r.broken.Load() {
		r.mu.Unlock()
		return nil, fmt.Errorf("room %s: reloaded while sending", roomID)
	}
	if r.snapshot != snap {
		// The state moved on meanwhile (a ban, new power levels): the
		// event must also pass against the current state.
		if err := allowed(pdu, authProvider(r.state)); err != nil {
			r.mu.Unlock()
			return nil, err
		}
	}
	b := &storage.Batch{}
	if r.seen(e.ID) {
		// An identical twin (same sender, content, millisecond and
		// prev_events) was built concurrently: build this one again on
		// the current head, which gives it other prev_events.
		if e, err = s.buildLocked(r, p, b); err != nil {
			r.mu.Unlock()
			return nil, err
		}
	} else {
		typeNID, _ := s.nameNIDs(b, e.Type, nil)
		b.Events = append(b.Events, e.toStorage(r.nid, typeNID, 0))
		r.advance(prev, e.ID, pdu.Depth())
	}
	done := s.submitLocked(r, b, []*Event{e}, nil)
	r.mu.Unlock()
	s.commit.building.Add(-1)
	building = false
	if err := wait(ctx, done); err != nil {
		return nil, err
	}
	return e, nil
}

// addSnapshotLocked records the state after a state event: a delta on the
// previous snapshot, or a full checkpoint after max(CheckpointEvery,
// state size / 2) deltas, so stored state grows linearly with state
// changes, not with events × members.
func (s *Service) addSnapshotLocked(r *room, b *storage.Batch, delta storage.StateEntry) {
	sn := storage.Snapshot{NID: s.nextSnap.Add(1), RoomNID: r.nid}
	// The interval grows with the state, so checkpoints cost O(1)
	// entries per state event amortised, however large the room.
	if r.snapshot == 0 || r.chainLen >= max(s.cfg.CheckpointEvery, len(r.state)/2) {
		s.namesMu.Lock()
		for t, e := range r.state {
			sn.Entries = append(sn.Entries, storage.StateEntry{TypeNID: s.types[t.typ], StateKeyNID: s.stateKeys[t.key], EventNID: e.NID})
		}
		s.namesMu.Unlock()
		r.chainLen = 0
	} else {
		sn.Parent = r.snapshot
		sn.Entries = []storage.StateEntry{delta}
		r.chainLen++
	}
	r.snapshot = sn.NID
	b.Snapshots = append(b.Snapshots, sn)
}

// submitLocked queues b (whose events are evs, in order) with r's new
// head. r.mu must be held so that a room's batches commit in build order.
func (s *Service) submitLocked(r *room, b *storage.Batch, evs []*Event, extra func()) chan error {
	b.Rooms = append(b.Rooms, storage.Room{NID: r.nid, RoomID: r.id, Version: string(r.ver.Version()),
		Snapshot: r.snapshot, ChainLen: r.chainLen, LatestEvents: r.latest, Depth: r.depth, Published: r.published})
	return s.commit.submit(b, func() {
		for i, e := range evs {
			e.Pos = b.Events[i].Pos
		}
		r.publish(evs, s.cfg.RecentEvents)
		if extra != nil {
			extra()
		}
		for _, e := range evs {
			if e.Type == spec.MRoomMember && e.StateKey != nil {
				s.setMembership(*e.StateKey, &membership{room: r, roomID: r.id, membership: e.Membership(), pos: e.Pos, eventNID: e.NID})
			}
		}
	})
}

// sendEvents builds events in order into one room and waits until they
// are durable. On a build error nothing is written, but events already
// applied to the build view are rolled back by invalidating the room.
func (s *Service) sendEvents(ctx context.Context, roomID string, ps ...proto) ([]*Event, error) {
	s.commit.building.Add(1)
	building := true
	defer func() {
		if building {
			s.commit.building.Add(-1)
		}
	}()
	r, err := s.lockRoom(ctx, roomID)
	if err != nil {
		if errors.Is(err, errNoRoom) {
			return nil, homeserver.Errorf(homeserver.ErrForbidden, "You are not in room %s", roomID)
		}
		return nil, err
	}
	b := &storage.Batch{}
	evs := make([]*Event, 0, len(ps))
	for _, p := range ps {
		e, err := s.buildLocked(r, p, b)
		if err != nil {
			if len(evs) > 0 {
				s.dropRoomLocked(r)
			}
			if len(b.Types)+len(b.StateKeys) > 0 {
				// Names were allocated in memory: store them anyway so
				// their NIDs are never reused for something else.
				s.commit.submit(&storage.Batch{Types: b.Types, StateKeys: b.StateKeys}, nil)
			}
			r.mu.Unlock()
			return nil, err
		}
		evs = append(evs, e)
	}
	done := s.submitLocked(r, b, evs, nil)
	r.mu.Unlock()
	s.commit.building.Add(-1)
	building = false
	if err := wait(ctx, done); err != nil {
		return nil, err
	}
	return evs, nil
}

// dropRoomLocked discards r's cache after a partial build.
func (s *Service) dropRoomLocked(r *room) {
	r.broken.Store(true)
	s.roomsMu.Lock()
	if s.rooms[r.id] == r {
		delete(s.rooms, r.id)
	}
	s.roomsMu.Unlock()
}

// txnResult is an in-flight send with a transaction ID.
type txnResult struct {
	done    chan struct{}
	eventID string
	err     error
}

func txnKey(userID, deviceID, txnID string, redaction bool) string {
	k := userID + "\x00" + deviceID + "\x00" + txnID
	if redaction {
		k = "r\x00" + k
	}
	return k
}

// txnCache remembers the event of each recent transaction ID, seeded from
// the database at start, so a retried request returns the first event
// without a database read on every send. It keeps the newest maxTxns.
type txnCache struct {
	mu    sync.Mutex
	m     map[string]string
	order []string // ring of keys, oldest at next
	next  int
}

const maxTxns = 100_000

func newTxnCache(recent []storage.Txn) *txnCache {
	c := &txnCache{m: make(map[string]string, len(recent))}
	for i := len(recent) - 1; i >= 0; i-- {
		t := recent[i]
		c.put(txnKey(t.UserID, t.DeviceID, t.TxnID, t.Redaction), t.EventID)
	}
	return c
}

func (c *txnCache) get(k string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.m[k]
	return id, ok
}

func (c *txnCache) put(k, eventID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; ok {
		return
	}
	if len(c.order) < maxTxns {
		c.order = append(c.order, k)
	} else {
		delete(c.m, c.order[c.next])
		c.order[c.next] = k
		c.next = (c.next + 1) % maxTxns
	}
	c.m[k] = eventID
}

// withTxn runs send once per (user, device, endpoint, txnID): a repeat
// returns the first event ID, whether still in flight or already stored.
func (s *Service) withTxn(ctx context.Context, userID, deviceID, txnID string, redaction bool, send func() (string, error)) (string, error) {
	key := txnKey(userID, deviceID, txnID, redaction)
	if id, ok := s.txnDone.get(key); ok {
		return id, nil
	}
	res := &txnResult{done: make(chan struct{})}
	if v, loaded := s.txns.LoadOrStore(key, res); loaded {
		prev := v.(*txnResult)
		select {
		case <-prev.done:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		if prev.err == nil {
			return prev.eventID, nil
		}
		return "", prev.err
	}
	defer func() {
		if res.err == nil {
			s.txnDone.put(key, res.eventID)
		}
		close(res.done)
		s.txns.Delete(key)
	}()
	// It may have completed between the cache check and LoadOrStore.
	if id, ok := s.txnDone.get(key); ok {
		res.eventID = id
		return id, nil
	}
	res.eventID, res.err = send()
	return res.eventID, res.err
}

// Send sends a message event (PUT /rooms/{roomId}/send/{type}/{txnId}).
func (s *Service) Send(ctx context.Context, dev homeserver.Device, roomID, evType, txnID string, content json.RawMessage) (string, error) {
	if err := parseRoomID(roomID); err != nil {
		return "", err
	}
	return s.withTxn(ctx, dev.UserID, dev.DeviceID, txnID, false, func() (string, error) {
		e, err := s.sendMessage(ctx, roomID, proto{Sender: dev.UserID, Type: evType, Content: content, TxnDevice: dev.DeviceID, TxnID: txnID})
		if err != nil {
			return "", err
		}
		return e.ID, nil
	})
}

// SetState sends a state event (PUT /rooms/{roomId}/state/{type}/{stateKey}).
func (s *Service) SetState(ctx context.Context, dev homeserver.Device, roomID, evType, stateKey string, content json.RawMessage) (string, error) {
	if err := parseRoomID(roomID); err != nil {
		return "", err
	}
	if evType == spec.MRoomCreate {
		return "", homeserver.Errorf(homeserver.ErrForbidden, "Cannot replace m.room.create")
	}
	if evType == spec.MRoomCanonicalAlias && stateKey == "" {
		if err := s.checkCanonicalAlias(ctx, roomID, content); err != nil {
			return "", err
		}
	}
	if r, err := s.room(ctx, roomID); err == nil {
		// Setting state to what it already is returns the existing event.
		if cur := r.stateEvent(evType, stateKey); cur != nil && cur.Sender == dev.UserID && jsonEqual(cur.PDU.Content(), content) {
			return cur.ID, nil
		}
	}
	evs, err := s.sendEvents(ctx, roomID, proto{Sender: dev.UserID, Type: evType, StateKey: &stateKey, Content: content})
	if err != nil {
		return "", err
	}
	return evs[0].ID, nil
}

func jsonEqual(a, b []byte) bool {
	ca, err1 := gmsl.CanonicalJSON(a)
	cb, err2 := gmsl.CanonicalJSON(b)
	return err1 == nil && err2 == nil && string(ca) == string(cb)
}
