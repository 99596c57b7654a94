package rooms

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"scop/homeserver"
)

// SlidingHook adds the extensions another layer owns (to-device messages
// and end-to-end encryption keys live beside the client API).
type SlidingHook interface {
	// Wake returns channels closed when the hook may have something new;
	// it is called before Fill so that nothing falls in between.
	Wake() []<-chan struct{}
	// Fill adds the hook's extensions to resp. It returns its new
	// position and whether it added something that must end a long poll.
	Fill(ctx context.Context, resp *SlidingResponse, st SlidingHookState) (pos int64, news bool, err error)
}

// SlidingHookState tells a hook where the connection stands.
type SlidingHookState struct {
	// Since is the position Fill returned for the response the request's
	// pos names (0 on a new connection, when Initial is set).
	Since   int64
	Initial bool
	// RoomsSince and RoomsPos bound the room stream positions the
	// response covers (RoomsSince is 0 on a new connection).
	RoomsSince, RoomsPos int64
}

// bumpTypes are the event types that move a room up the list: what a
// user would call new activity, not state churn.
var bumpTypes = map[string]bool{
	spec.MRoomCreate: true, "m.room.message": true, "m.room.encrypted": true, "m.sticker": true,
	"m.call.invite": true, "m.poll.start": true, "org.matrix.msc3381.poll.start": true, "m.beacon_info": true,
}

// SlidingSync serves one sliding sync request: the rooms of the requested
// list ranges and subscriptions that are new to the connection or changed
// since the response req.Pos names, and the extensions. With a pos and
// nothing new it waits up to req.Timeout for a change, woken by the same
// notifier as /sync (and by the hook's channels).
func (s *Service) SlidingSync(ctx context.Context, dev homeserver.Device, conns *SlidingConns, req *SlidingRequest, hook SlidingHook) (*SlidingResponse, error) {
	prev, err := conns.lookup(dev, req.ConnID, req.Pos)
	if err != nil {
		return nil, err
	}
	// Polling marks the user present, as /sync does.
	if pres := s.presence(); pres != nil {
		pres.SyncStarted(dev.UserID, req.SetPresence)
		defer pres.SyncEnded(dev.UserID)
	}
	var timer <-chan time.Time
	if timeout := min(max(req.Timeout, 0), maxSyncTimeout); prev != nil && timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	for {
		pos, changed := s.notify.current()
		typ := s.typing.generation()
		var wakes []<-chan struct{}
		if hook != nil {
			wakes = hook.Wake()
		}
		resp, next, news, err := s.buildSliding(ctx, dev, req, prev, pos, typ)
		if err != nil {
			return nil, err
		}
		if hook != nil {
			st := SlidingHookState{Initial: prev == nil, RoomsPos: pos}
			if prev != nil {
				st.Since, st.RoomsSince = prev.extPos, prev.pos
			}
			p, hn, err := hook.Fill(ctx, resp, st)
			if err != nil {
				return nil, err
			}
			next.extPos, news = p, news || hn
		}
		if prev == nil || news || timer == nil || ctx.Err() != nil {
			resp.Pos = conns.store(dev, req.ConnID, prev, next)
			return resp, nil
		}
		if req.Parked != nil {
			req.Parked(true)
		}
		woken := waitAny(ctx, timer, append(wakes, changed))
		if req.Parked != nil {
			req.Parked(false)
		}
		if !woken {
			resp.Pos = conns.store(dev, req.ConnID, prev, next)
			return resp, nil
		}
	}
}

// waitAny blocks until one of chs closes (true) or the timer fires or ctx
// ends (false).
func waitAny(ctx context.Context, timer <-chan time.Time, chs []<-chan struct{}) bool {
	woke := make(chan struct{})
	stop := make(chan struct{})
	defer close(stop)
	for _, ch := range chs[:len(chs)-1] {
		go func() {
			select {
			case <-ch:
				select {
				case woke <- struct{}{}:
				case <-stop:
				}
			case <-stop:
			}
		}()
	}
	select {
	case <-chs[len(chs)-1]:
		return true
	case <-woke:
		return true
	case <-timer:
	case <-ctx.Done():
	}
	return false
}

// slidingCand is one room the user could see in a list.
type slidingCand struct {
	m         membership
	r         *room
	bump      int64
	dm        bool
	encrypted bool
	roomType  *string
	name      string
	tags      []string
}

// windowRoom is a room the response covers, with the merged configs of
// the lists and subscriptions that selected it.
type windowRoom struct {
	c     *slidingCand
	spec  stateSpec
	limit int
	lists []string // the lists that selected it
}

func (s *Service) buildSliding(ctx context.Context, dev homeserver.Device, req *SlidingRequest, prev *slidingSnap,
	pos, typ int64) (*SlidingResponse, *slidingSnap, bool, error) {
	next := &slidingSnap{pos: pos, typing: typ, rooms: map[string]sentRoom{}, counts: map[string]int{}, dm: map[string]bool{},
		subs: map[string]SlidingRoomConfig{}}
	var since, sinceTyping int64
	if prev != nil {
		since, sinceTyping = prev.pos, prev.typing
		maps.Copy(next.rooms, prev.rooms)
		next.dm, next.tags = prev.dm, prev.tags
		maps.Copy(next.subs, prev.subs)
	}
	mergeSubs(next.subs, req)
	resp := &SlidingResponse{TxnID: req.TxnID, Lists: map[string]SlidingListResult{}, Rooms: map[string]*SlidingRoom{}}
	ignored, err := s.ignoredUsers(ctx, dev.UserID)
	if err != nil {
		return nil, nil, false, err
	}
	global, perRoom, err := s.accountDataSince(ctx, dev.UserID, since, pos)
	if err != nil {
		return nil, nil, false, err
	}
	for _, a := range global {
		if a.typ == "m.direct" {
			next.dm = parseDirect(a.content)
		}
	}
	next.tags = updateTags(next.tags, perRoom)
	cands, byID := s.slidingCandidates(ctx, dev, prev, pos, ignored, next)

	window := map[string]*windowRoom{}
	add := func(c *slidingCand, cfg SlidingRoomConfig) {
		w := window[c.m.roomID]
		if w == nil {
			w = &windowRoom{c: c}
			window[c.m.roomID] = w
		}
		w.spec.merge(cfg, dev.UserID)
		w.limit = max(w.limit, cfg.timelineLimit())
	}
	listRooms := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(req.Lists)) {
		l := req.Lists[name]
		var sel []*slidingCand
		for _, c := range cands {
			if s.slidingFilterAllows(l.Filters, c) {
				sel = append(sel, c)
			}
		}
		next.counts[name] = len(sel)
		resp.Lists[name] = SlidingListResult{Count: len(sel)}
		seen := map[int64]bool{} // ranges may overlap
		for _, rg := range l.Ranges {
			for i := rg[0]; i <= rg[1] && i < int64(len(sel)); i++ {
				if seen[i] {
					continue
				}
				seen[i] = true
				add(sel[i], l.SlidingRoomConfig)
				window[sel[i].m.roomID].lists = append(window[sel[i].m.roomID].lists, name)
				listRooms[name] = append(listRooms[name], sel[i].m.roomID)
			}
		}
	}
	for id, cfg := range next.subs {
		if c := byID[id]; c != nil {
			add(c, cfg)
		}
	}
	news := prev != nil && !maps.Equal(prev.counts, next.counts)
	for _, id := range slices.Sorted(maps.Keys(window)) {
		var old *sentRoom
		if prev != nil {
			if st, ok := prev.rooms[id]; ok {
				old = &st
			}
		}
		room, sent, err := s.slidingRoom(ctx, dev, window[id], old, prev != nil, since, pos, ignored)
		if err != nil {
			return nil, nil, false, err
		}
		next.rooms[id] = sent
		if room != nil {
			resp.Rooms[id] = room
			news = true
		}
	}
	x := req.Extensions
	if x.AccountData.On() {
		ad, err := s.slidingAccountData(ctx, dev, prev == nil, global, perRoom, resp, scope(x.AccountData, window, listRooms, next.subs), pos)
		if err != nil {
			return nil, nil, false, err
		}
		resp.Extensions.AccountData = ad
		news = news || len(ad.Global)+len(ad.Rooms) > 0
	}
	if x.Receipts.On() {
		rc := &SlidingEphemeralRooms{Rooms: map[string]json.RawMessage{}}
		for id := range scope(x.Receipts, window, listRooms, next.subs) {
			if window[id].c.m.membership != spec.Join {
				continue // receipts are for members only
			}
			from := since
			if r := resp.Rooms[id]; r != nil && r.Initial {
				from = 0
			}
			if e := window[id].c.r.receiptEvent(dev.UserID, from, pos); e != nil {
				rc.Rooms[id] = e
			}
		}
		resp.Extensions.Receipts = rc
		news = news || len(rc.Rooms) > 0
	}
	if x.Typing.On() {
		ty := &SlidingEphemeralRooms{Rooms: map[string]json.RawMessage{}}
		for id := range scope(x.Typing, window, listRooms, next.subs) {
			from := sinceTyping
			if r := resp.Rooms[id]; r != nil && r.Initial {
				from = 0
			}
			if users, changed := s.typing.since(id, from); changed && window[id].c.m.membership == spec.Join {
				ty.Rooms[id] = typingEvent(users)
			}
		}
		resp.Extensions.Typing = ty
		news = news || len(ty.Rooms) > 0
	}
	return resp, next, news, nil
}

// mergeSubs applies a request's subscriptions to subs (a copy of the
// previous snapshot's): unsubscribe_rooms ends some, the new ones are
// added, and subscriptions the request does not renew are dropped while
// the total would pass maxSlidingSubscriptions rooms or
// maxSlidingSubStateBytes of required_state. Subscriptions stay on the
// connection across requests, so without the byte bound a client could
// pile up one large required_state per request.
func mergeSubs(subs map[string]SlidingRoomConfig, req *SlidingRequest) {
	for _, id := range req.UnsubscribeRooms {
		delete(subs, id)
	}
	maps.Copy(subs, req.RoomSubscriptions)
	size := 0
	for _, c := range subs {
		size += c.RequiredState.bytes()
	}
	for id, c := range subs {
		if len(subs) <= maxSlidingSubscriptions && size <= maxSlidingSubStateBytes {
			break
		}
		if _, again := req.RoomSubscriptions[id]; !again {
			delete(subs, id)
			size -= c.RequiredState.bytes()
		}
	}
}

// scope is the set of window rooms an extension applies to.
func scope(x *SlidingScopedExtension, window map[string]*windowRoom, listRooms map[string][]string, subs map[string]SlidingRoomConfig) map[string]bool {
	out := map[string]bool{}
	if x.Lists == nil && x.Rooms == nil {
		for id := range window {
			out[id] = true
		}
		return out
	}
	if x.Lists != nil {
		for _, l := range *x.Lists {
			for name, ids := range listRooms {
				if l == "*" || l == name {
					for _, id := range ids {
						out[id] = true
					}
				}
			}
		}
	}
	if x.Rooms != nil {
		for _, id := range *x.Rooms {
			if id == "*" {
				for sub := range subs {
					if window[sub] != nil {
						out[sub] = true
					}
				}
			} else if window[id] != nil {
				out[id] = true
			}
		}
	}
	return out
}

// slidingCandidates lists the rooms the lists choose from, most recent
// first: joined and invited rooms, rooms the user was kicked or banned
// from, and rooms the user left since the previous response of a
// connection that had them (so the client sees the leave).
func (s *Service) slidingCandidates(ctx context.Context, dev homeserver.Device, prev *slidingSnap, pos int64,
	ignored map[string]bool, next *slidingSnap) ([]*slidingCand, map[string]*slidingCand) {
	var out []*slidingCand
	byID := map[string]*slidingCand{}
	for _, m := range s.userMemberships(dev.UserID) {
		if m.forgotten || m.pos > pos {
			continue
		}
		switch m.membership {
		case spec.Join, spec.Invite, spec.Knock, spec.Leave, spec.Ban:
		default:
			continue
		}
		r, err := s.room(ctx, m.roomID)
		if err != nil {
			s.log.Warn("sliding sync: cannot load room", "room", m.roomID, "err", err)
			continue
		}
		if m.membership == spec.Leave {
			self := true
			if e := r.stateEvent(spec.MRoomMember, dev.UserID); e != nil && e.Sender != dev.UserID && e.Pos == m.pos {
				self = false // kicked
			}
			_, known := prev.known(m.roomID)
			if self && (!known || m.pos <= prev.pos) {
				continue
			}
		}
		c := &slidingCand{m: m, r: r, dm: next.dm[m.roomID], tags: next.tags[m.roomID]}
		if m.membership == spec.Invite {
			inv := r.stateEvent(spec.MRoomMember, dev.UserID)
			if inv != nil && ignored[inv.Sender] {
				continue
			}
			if inv != nil && isDirectInvite(inv) {
				c.dm = true
			}
		}
		c.bump = bumpStamp(r, m, pos)
		c.encrypted = r.stateEvent(spec.MRoomEncryption, "") != nil
		if e := r.stateEvent(spec.MRoomCreate, ""); e != nil {
			var cc struct {
				Type *string `json:"type"`
			}
			_ = json.Unmarshal(e.PDU.Content(), &cc)
			c.roomType = cc.Type
		}
		c.name = stateString(r, spec.MRoomName, "name")
		out = append(out, c)
		byID[m.roomID] = c
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].bump != out[j].bump {
			return out[i].bump > out[j].bump
		}
		return out[i].m.roomID < out[j].m.roomID
	})
	return out, byID
}

// bumpStamp is the position of the room's newest bumping event; for a
// room the user is invited to or left, that of the membership. A room whose recent events
// hold none falls back to the newest position older than them.
func bumpStamp(r *room, m membership, pos int64) int64 {
	if m.membership != spec.Join {
		// For a room the user is not in, when that membership happened.
		return m.pos
	}
	hi := pos
	r.view.RLock()
	recent, floor := r.recent, r.floor
	r.view.RUnlock()
	for i := len(recent) - 1; i >= 0; i-- {
		if e := recent[i]; e.Pos <= hi && bumpTypes[e.Type] {
			return e.Pos
		}
	}
	if floor > 0 {
		return min(floor, hi)
	}
	return m.pos
}

func (s *Service) slidingFilterAllows(f *SlidingFilters, c *slidingCand) bool {
	if f == nil {
		return true
	}
	if f.IsDM != nil && *f.IsDM != c.dm {
		return false
	}
	if f.IsInvite != nil && *f.IsInvite != (c.m.membership == spec.Invite) {
		return false
	}
	if f.IsEncrypted != nil && *f.IsEncrypted != c.encrypted {
		return false
	}
	sameType := func(t *string) bool {
		return (t == nil && c.roomType == nil) || (t != nil && c.roomType != nil && *t == *c.roomType)
	}
	if f.RoomTypes != nil && !slices.ContainsFunc(*f.RoomTypes, sameType) {
		return false
	}
	if slices.ContainsFunc(f.NotRoomTypes, sameType) {
		return false
	}
	if f.RoomNameLike != "" && !strings.Contains(strings.ToLower(c.name), strings.ToLower(f.RoomNameLike)) {
		return false
	}
	if slices.ContainsFunc(f.NotTags, func(t string) bool { return slices.Contains(c.tags, t) }) {
		return false
	}
	if f.Tags != nil && !slices.ContainsFunc(*f.Tags, func(t string) bool { return slices.Contains(c.tags, t) }) {
		return false
	}
	if f.Spaces != nil && !slices.ContainsFunc(*f.Spaces, func(space string) bool { return s.inSpace(space, c.m.roomID) }) {
		return false
	}
	return true
}

// inSpace reports whether space lists roomID as a child (a loaded space
// only: spaces are loaded as the user's own rooms).
func (s *Service) inSpace(space, roomID string) bool {
	s.roomsMu.RLock()
	r := s.rooms[space]
	s.roomsMu.RUnlock()
	if r == nil {
		return false
	}
	e := r.stateEvent("m.space.child", roomID)
	if e == nil {
		return false
	}
	var c struct {
		Via []string `json:"via"`
	}
	_ = json.Unmarshal(e.PDU.Content(), &c)
	return len(c.Via) > 0
}

// parseDirect reads m.direct (user → room IDs) into a set of rooms.
func parseDirect(content json.RawMessage) map[string]bool {
	var c map[string][]string
	_ = json.Unmarshal(content, &c)
	out := map[string]bool{}
	for _, ids := range c {
		for _, id := range ids {
			out[id] = true
		}
	}
	return out
}

func isDirectInvite(e *Event) bool {
	var c struct {
		IsDirect bool `json:"is_direct"`
	}
	_ = json.Unmarshal(e.PDU.Content(), &c)
	return c.IsDirect
}

// stateString reads a string field of a state event's content ("" if absent).
func stateString(r *room, typ, field string) string {
	e := r.stateEvent(typ, "")
	if e == nil {
		return ""
	}
	var c map[string]any
	_ = json.Unmarshal(e.PDU.Content(), &c)
	v, _ := c[field].(string)
	return v
}

// known reports what the snapshot's client has of a room (nil snapshot:
// nothing).
func (sn *slidingSnap) known(roomID string) (sentRoom, bool) {
	if sn == nil {
		return sentRoom{}, false
	}
	st, ok := sn.rooms[roomID]
	return st, ok
}

// updateTags applies changed m.tag room account data to the room → tag
// names map, copying it only when something changed (snapshots share it).
func updateTags(tags map[string][]string, perRoom map[string][]adEntry) map[string][]string {
	copied := false
	for roomID, entries := range perRoom {
		for _, a := range entries {
			if a.typ != "m.tag" {
				continue
			}
			if !copied {
				tags, copied = maps.Clone(tags), true
				if tags == nil {
					tags = map[string][]string{}
				}
			}
			var c struct {
				Tags map[string]json.RawMessage `json:"tags"`
			}
			_ = json.Unmarshal(a.content, &c)
			tags[roomID] = slices.Sorted(maps.Keys(c.Tags))
		}
	}
	return tags
}
