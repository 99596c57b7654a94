package rooms

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"scop/homeserver"
)

// SyncRequest is GET /sync.
type SyncRequest struct {
	Since     string
	Filter    string // a filter ID or inline JSON
	FullState bool
	Timeout   time.Duration
	// SetPresence is the set_presence parameter ("" for the default,
	// online); it applies when the service has a presence tracker.
	SetPresence string
	// Parked, when set, is called with true when the request starts
	// waiting for new data and with false when it stops (for metrics).
	Parked func(waiting bool)
}

// EventList is {"events": [...]}.
type EventList struct {
	Events []json.RawMessage `json:"events"`
}

// Timeline is a room's timeline section.
type Timeline struct {
	Events    []json.RawMessage `json:"events"`
	Limited   bool              `json:"limited"`
	PrevBatch string            `json:"prev_batch,omitempty"`
}

// RoomSummary is the summary of a joined room.
type RoomSummary struct {
	Heroes      []string `json:"m.heroes,omitempty"`
	JoinedCount *int     `json:"m.joined_member_count,omitempty"`
	InvitedCnt  *int     `json:"m.invited_member_count,omitempty"`
}

// JoinedRoom is one entry of rooms.join.
type JoinedRoom struct {
	Summary     RoomSummary   `json:"summary"`
	Unread      *UnreadCounts `json:"unread_notifications,omitempty"`
	State       EventList     `json:"state"`
	Timeline    Timeline      `json:"timeline"`
	Ephemeral   EventList     `json:"ephemeral"`
	AccountData EventList     `json:"account_data"`
}

// InvitedRoom is one entry of rooms.invite.
type InvitedRoom struct {
	InviteState EventList `json:"invite_state"`
}

// LeftRoom is one entry of rooms.leave.
type LeftRoom struct {
	State       EventList `json:"state"`
	Timeline    Timeline  `json:"timeline"`
	AccountData EventList `json:"account_data"`
}

// SyncRooms is the rooms section.
type SyncRooms struct {
	Join   map[string]*JoinedRoom  `json:"join"`
	Invite map[string]*InvitedRoom `json:"invite"`
	Leave  map[string]*LeftRoom    `json:"leave"`
	Knock  map[string]any          `json:"knock"`
}

// SyncResponse is the body of GET /sync.
type SyncResponse struct {
	NextBatch   string    `json:"next_batch"`
	Rooms       SyncRooms `json:"rooms"`
	AccountData EventList `json:"account_data"`
	Presence    EventList `json:"presence"`
}

func (r *SyncResponse) empty() bool {
	// Presence is judged apart (quiet changes do not end a long poll).
	return len(r.Rooms.Join)+len(r.Rooms.Invite)+len(r.Rooms.Leave)+len(r.Rooms.Knock)+len(r.AccountData.Events) == 0
}

// maxSyncTimeout caps long polls.
const maxSyncTimeout = 5 * time.Minute

// Sync serves /sync: with no since, everything; with since, what changed
// after it, waiting up to Timeout for something to change. The token is
// the committed stream position read before building the response, so
// events committed meanwhile come in the next response: never skipped,
// never repeated.
func (s *Service) Sync(ctx context.Context, dev homeserver.Device, req SyncRequest) (*SyncResponse, error) {
	f, err := s.resolveFilter(ctx, dev.UserID, req.Filter)
	if err != nil {
		return nil, err
	}
	var since, sinceTyping, sincePresence int64
	if req.Since != "" {
		if since, sinceTyping, sincePresence, err = parseSyncToken(req.Since); err != nil {
			return nil, err
		}
		if cur, _ := s.notify.current(); since > cur {
			// A token from the future (e.g. a restored database):
			// serve it as a fresh start rather than miss events forever.
			since, sinceTyping, sincePresence = 0, 0, 0
		}
	}
	pres := s.presence()
	if pres != nil {
		pres.SyncStarted(dev.UserID, req.SetPresence)
		defer pres.SyncEnded(dev.UserID)
		if sincePresence > pres.generation() {
			sincePresence = 0 // from another clock: send everything again
		}
	}
	timeout := min(max(req.Timeout, 0), maxSyncTimeout)
	var timer <-chan time.Time
	if timeout > 0 && req.Since != "" {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	for {
		pos, changed := s.notify.current()
		typ := s.typing.generation()
		pg := pres.generation()
		resp, err := s.buildSync(ctx, dev, f, since, sinceTyping, pos, typ, req.FullState)
		if err != nil {
			return nil, err
		}
		loud := false
		if pres != nil {
			resp.NextBatch += "_" + strconv.FormatInt(pg, 10)
			if sincePresence < pg {
				resp.Presence.Events, loud = s.presenceEvents(dev.UserID, sincePresence, pg, f.Presence)
			}
		}
		if req.Since == "" || req.FullState || !resp.empty() || loud || timer == nil {
			return resp, nil
		}
		if req.Parked != nil {
			req.Parked(true)
		}
		woken := false
		select {
		case <-changed:
			woken = true
		case <-timer:
		case <-ctx.Done():
		}
		if req.Parked != nil {
			req.Parked(false)
		}
		if !woken {
			return resp, nil
		}
	}
}

func syncToken(pos, typing int64) string {
	return formatToken(pos) + "_" + strconv.FormatInt(typing, 10)
}

func (s *Service) buildSync(ctx context.Context, dev homeserver.Device, f *Filter, since, sinceTyping, pos, typ int64, fullState bool) (*SyncResponse, error) {
	resp := &SyncResponse{
		NextBatch: syncToken(pos, typ),
		Rooms: SyncRooms{Join: map[string]*JoinedRoom{}, Invite: map[string]*InvitedRoom{},
			Leave: map[string]*LeftRoom{}, Knock: map[string]any{}},
		AccountData: EventList{Events: []json.RawMessage{}},
		Presence:    EventList{Events: []json.RawMessage{}},
	}
	rf := f.Room
	if rf == nil {
		rf = &RoomFilter{}
	}
	ignored, err := s.ignoredUsers(ctx, dev.UserID)
	if err != nil {
		return nil, err
	}
	if len(ignored) > 0 {
		c := *rf
		c.Timeline = rf.Timeline.withIgnored(ignored)
		rf = &c
	}
	roomAllowed := func(id string) bool {
		return !contains(rf.NotRooms, id) && (rf.Rooms == nil || contains(*rf.Rooms, id))
	}
	global, perRoom, err := s.accountDataSince(ctx, dev.UserID, since, pos)
	if err != nil {
		return nil, err
	}
	for _, a := range global {
		if f.AccountData.allows(a.typ, "") {
			resp.AccountData.Events = append(resp.AccountData.Events, a.json())
		}
	}
	for _, m := range s.userMemberships(dev.UserID) {
		if m.forgotten || !roomAllowed(m.roomID) || m.pos > pos {
			continue
		}
		r, err := s.room(ctx, m.roomID)
		if err != nil {
			s.log.Warn("sync: cannot load room", "room", m.roomID, "err", err)
			continue
		}
		radata := EventList{Events: []json.RawMessage{}}
		for _, a := range perRoom[m.roomID] {
			if rf.AccountData.allowsEvent(&Event{Type: a.typ}) {
				radata.Events = append(radata.Events, a.json())
			}
		}
		switch m.membership {
		case spec.Knock:
			s.syncKnock(resp, r, m, dev.UserID, since, fullState)
		case spec.Join:
			jr, err := s.syncJoined(ctx, dev, r, rf, m, since, sinceTyping, pos, fullState)
			if err != nil {
				return nil, err
			}
			if jr == nil && len(radata.Events) == 0 {
				continue
			}
			if jr == nil {
				jr = &JoinedRoom{State: EventList{Events: []json.RawMessage{}}, Timeline: Timeline{Events: []json.RawMessage{}, PrevBatch: formatToken(pos)},
					Ephemeral: EventList{Events: []json.RawMessage{}}}
			}
			jr.AccountData = radata
			resp.Rooms.Join[m.roomID] = jr
		case spec.Invite:
			if since != 0 && m.pos <= since && !fullState {
				continue
			}
			if inv := r.stateEvent(spec.MRoomMember, dev.UserID); inv != nil && ignored[inv.Sender] {
				continue
			}
			resp.Rooms.Invite[m.roomID] = &InvitedRoom{InviteState: EventList{Events: inviteState(r, dev.UserID)}}
		case spec.Leave, spec.Ban:
			// Rooms left since the token always come; older ones only
			// when include_leave asks for them in a full response.
			recent := since != 0 && m.pos > since
			if !recent && !(rf.IncludeLeave && (since == 0 || fullState)) {
				continue
			}
			lr, err := s.syncLeft(ctx, dev, r, rf, m, since, fullState)
			if err != nil {
				return nil, err
			}
			lr.AccountData = radata
			resp.Rooms.Leave[m.roomID] = lr
		}
	}
	return resp, nil
}

// syncJoined builds a joined room's section, or nil when nothing changed.
func (s *Service) syncJoined(ctx context.Context, dev homeserver.Device, r *room, rf *RoomFilter, m membership,
	since, sinceTyping, pos int64, fullState bool) (*JoinedRoom, error) {
	newly := since == 0 || m.joinedAt > since || fullState
	typing, typingChanged := s.typing.since(r.id, sinceTyping)
	r.view.RLock()
	last := r.lastPos
	r.view.RUnlock()
	receipts := r.receiptEvent(dev.UserID, since, pos)
	if !newly && last <= since && !typingChanged && receipts == nil {
		return nil, nil
	}
	limit := rf.Timeline.limit(10, 100)
	v, err := s.memberView(ctx, r, m, dev.UserID, pos)
	if err != nil {
		return nil, err
	}
	lo := since
	if since != 0 && m.joinedAt > since {
		// Joined (or re-joined) since the token: the room comes as in an
		// initial sync, with recent history as far as visibility allows.
		lo = 0
	}
	evs, limited, err := s.timeline(ctx, v, lo, pos, limit, rf.Timeline)
	if err != nil {
		return nil, err
	}
	jr := &JoinedRoom{
		State:     EventList{Events: []json.RawMessage{}},
		Timeline:  Timeline{Events: make([]json.RawMessage, 0, len(evs)), Limited: limited, PrevBatch: formatToken(pos)},
		Ephemeral: EventList{Events: []json.RawMessage{}},
	}
	if len(evs) > 0 {
		jr.Timeline.PrevBatch = formatToken(evs[0].Pos - 1)
	}
	inTimeline := make(map[string]bool, len(evs))
	senders := map[string]bool{dev.UserID: true}
	for _, e := range evs {
		inTimeline[e.ID] = true
		senders[e.Sender] = true
		jr.Timeline.Events = append(jr.Timeline.Events, e.JSON(dev.UserID, dev.DeviceID))
	}
	if newly || limited {
		var first int64 = pos + 1
		if len(evs) > 0 {
			first = evs[0].Pos
		}
		st := r.currentState()
		sortEvents(st)
		joined, invited := 0, 0
		var heroes []string
		for _, e := range st {
			if e.Type == spec.MRoomMember {
				switch e.Membership() {
				case spec.Join:
					joined++
				case spec.Invite:
					invited++
				}
				if *e.StateKey != dev.UserID && len(heroes) < 5 && (e.Membership() == spec.Join || e.Membership() == spec.Invite) {
					heroes = append(heroes, *e.StateKey)
				}
			}
			if inTimeline[e.ID] || (!newly && (e.Pos <= since || e.Pos >= first)) {
				continue
			}
			if !rf.State.allowsEvent(e) {
				continue
			}
			if rf.State != nil && rf.State.LazyLoadMembers && e.Type == spec.MRoomMember && !senders[*e.StateKey] {
				continue
			}
			jr.State.Events = append(jr.State.Events, e.JSON(dev.UserID, dev.DeviceID))
			inTimeline[e.ID] = true // sent now: not again below
		}
		if newly {
			jr.Summary = RoomSummary{Heroes: heroes, JoinedCount: &joined, InvitedCnt: &invited}
		}
	}
	if !newly && rf.State != nil && rf.State.LazyLoadMembers {
		// Lazy loading: the client needs the member event of every
		// timeline sender, even one that has not changed since the token.
		for sender := range senders {
			if e := r.stateEvent(spec.MRoomMember, sender); e != nil && !inTimeline[e.ID] && e.Pos <= pos && sender != dev.UserID {
				jr.State.Events = append(jr.State.Events, e.JSON(dev.UserID, dev.DeviceID))
			}
		}
	}
	if typingChanged || (newly && len(typing) > 0) {
		jr.Ephemeral.Events = append(jr.Ephemeral.Events, typingEvent(typing))
	}
	if receipts != nil {
		jr.Ephemeral.Events = append(jr.Ephemeral.Events, receipts)
	}
	if jr.Unread, err = s.unread(ctx, r, dev.UserID, m.joinedAt, pos); err != nil {
		return nil, err
	}
	return jr, nil
}

// syncLeft builds a left room's section: the timeline up to the leave,
// and the state at the leave (all of it when the room is new to the
// client, else what changed in a gap of a limited timeline).
func (s *Service) syncLeft(ctx context.Context, dev homeserver.Device, r *room, rf *RoomFilter, m membership, since int64, fullState bool) (*LeftRoom, error) {
	v, err := s.memberView(ctx, r, m, dev.UserID, m.pos)
	if err != nil {
		return nil, err
	}
	v.leaveNID = m.eventNID
	lo := since
	newly := since == 0 || fullState || m.joinedAt > since
	if since != 0 && m.joinedAt > since {
		lo = 0 // joined and left within the window
	}
	evs, limited, err := s.timeline(ctx, v, lo, m.pos, rf.Timeline.limit(10, 100), rf.Timeline)
	if err != nil {
		return nil, err
	}
	lr := &LeftRoom{State: EventList{Events: []json.RawMessage{}}, Timeline: Timeline{Events: []json.RawMessage{}, Limited: limited, PrevBatch: formatToken(m.pos)}}
	if len(evs) > 0 {
		lr.Timeline.PrevBatch = formatToken(evs[0].Pos - 1)
	}
	inTimeline := make(map[string]bool, len(evs))
	senders := map[string]bool{dev.UserID: true}
	for _, e := range evs {
		inTimeline[e.ID] = true
		senders[e.Sender] = true
		lr.Timeline.Events = append(lr.Timeline.Events, e.JSON(dev.UserID, dev.DeviceID))
	}
	if !newly && !limited {
		return lr, nil
	}
	first := m.pos + 1
	if len(evs) > 0 {
		first = evs[0].Pos
	}
	st, err := s.state(ctx, v)
	if err != nil {
		return nil, err
	}
	sortEvents(st)
	for _, e := range st {
		if inTimeline[e.ID] || (!newly && (e.Pos <= since || e.Pos >= first)) || !rf.State.allowsEvent(e) {
			continue
		}
		if rf.State != nil && rf.State.LazyLoadMembers && e.Type == spec.MRoomMember && !senders[*e.StateKey] {
			continue
		}
		lr.State.Events = append(lr.State.Events, e.JSON(dev.UserID, dev.DeviceID))
	}
	return lr, nil
}

// memberView is what the user of m sees of r up to upTo (sync's view,
// built from the membership it already holds).
func (s *Service) memberView(ctx context.Context, r *room, m membership, userID string, upTo int64) (view, error) {
	ix, err := s.visIndexOf(ctx, r)
	if err != nil {
		return view{}, err
	}
	ix.mu.RLock()
	indexed := ix.upTo
	ix.mu.RUnlock()
	v := view{r: r, upTo: upTo, spans: ix.spans(userID, min(upTo, indexed))}
	v.from = v.timelineFloor() + 1
	return v, nil
}

// timeline returns up to limit visible events of v with lo < pos <= hi,
// oldest first, from the in-memory recent events when they cover the
// range, and whether older visible events were left out.
func (s *Service) timeline(ctx context.Context, v view, lo, hi int64, limit int, f *RoomEventFilter) ([]*Event, bool, error) {
	if limit <= 0 {
		return nil, false, nil
	}
	lo = max(lo, v.timelineFloor()) // nothing visible below
	r := v.r
	r.view.RLock()
	recent, floor := r.recent, r.floor
	r.view.RUnlock()
	var out []*Event
	covered := floor <= lo
	for i := len(recent) - 1; i >= 0; i-- {
		e := recent[i]
		if e.Pos > hi {
			continue
		}
		if e.Pos <= lo {
			covered = true
			break
		}
		if !v.sees(e.Pos) || !f.allowsEvent(e) {
			continue
		}
		if len(out) == limit {
			reverse(out)
			return out, true, nil
		}
		out = append(out, e)
	}
	if covered {
		reverse(out)
		return out, false, nil
	}
	if len(out) == limit && !f.restricts() && floor <= hi && v.sees(floor) {
		// The newest evicted event (at floor > lo) is also in range.
		reverse(out)
		return out, true, nil
	}
	// Older than the cache: read from the database, examining a bounded
	// number of rows when a filter may skip most of them.
	maxRows := -1
	batch := limit + 1
	if f.restricts() {
		maxRows = max(limit+1, 200)
		batch = maxRows
	}
	out = out[:0]
	limited := false
	examined := 0
	_, err := s.scan(ctx, v, lo, hi, true, batch, func(e *Event) (bool, error) {
		if examined == maxRows {
			limited = true
			return false, nil
		}
		examined++
		if !f.allowsEvent(e) {
			return true, nil
		}
		if len(out) == limit {
			limited = true
			return false, nil
		}
		out = append(out, e)
		return true, nil
	})
	if err != nil {
		return nil, false, err
	}
	reverse(out)
	return out, limited, nil
}

func reverse(evs []*Event) {
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
}

// inviteState is the stripped state shown with an invite.
func inviteState(r *room, userID string) []json.RawMessage {
	out := []json.RawMessage{}
	for _, t := range []tuple{{spec.MRoomCreate, ""}, {spec.MRoomJoinRules, ""}, {spec.MRoomName, ""},
		{spec.MRoomAvatar, ""}, {spec.MRoomCanonicalAlias, ""}, {spec.MRoomEncryption, ""}, {spec.MRoomTopic, ""},
		{spec.MRoomMember, userID}} {
		if e := r.stateEvent(t.typ, t.key); e != nil {
			out = append(out, e.StrippedJSON())
		}
	}
	return out
}
