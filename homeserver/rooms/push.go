package rooms

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"scop/homeserver/push"
	"scop/homeserver/storage"
)

// Push rule evaluation for unread_notifications and the pusher worker.
// It runs outside the send path: counts are computed on demand at sync
// (incrementally from a cached count per room and user) and the pusher
// worker follows the stream.

const pushRulesType = "m.push_rules"

// pushState holds the compiled rules of each user and the cached counts.
// It hangs off the Service through pushStates (the Service struct is
// owned elsewhere).
type pushState struct {
	mu      sync.Mutex
	rules   map[string]*userRules
	counts  map[countKey]countEntry
	parsed  map[*Event]*push.Event
	members map[*room]memberCount
}

type userRules struct {
	evl *push.Evaluator
}

type countKey struct {
	r    *room
	user string
}

// countEntry is the count over (after, pos].
type countEntry struct {
	after, pos int64
	counts     UnreadCounts
}

// memberCount is a room's joined member count as of lastPos, and the
// notification levels of its power levels event pl.
type memberCount struct {
	lastPos int64
	joined  int
	pl      *Event
	notif   map[string]int64
}

// maxParsed bounds the cache of events parsed for evaluation.
const maxParsed = 8192

func newPushState() *pushState {
	return &pushState{rules: map[string]*userRules{}, counts: map[countKey]countEntry{},
		parsed: map[*Event]*push.Event{}, members: map[*room]memberCount{}}
}

func (s *Service) pushState() *pushState { return s.push }

// PutPushRules publishes a user's whole ruleset ({"global": ...}) as
// m.push_rules account data and evaluates the user's events with it
// from now on: the unread counts of the events so far are settled with
// the old rules first.
func (s *Service) PutPushRules(ctx context.Context, userID string, content json.RawMessage) error {
	evl, err := compileRulesContent(userID, content)
	if err != nil {
		return err
	}
	// Only cached counts need settling: a count made from scratch later
	// uses the rules of that time anyway.
	pos, _ := s.notify.current()
	ps := s.pushState()
	for _, m := range s.userMemberships(userID) {
		if m.membership != spec.Join {
			continue
		}
		r, err := s.room(ctx, m.roomID)
		if err != nil {
			continue
		}
		ps.mu.Lock()
		_, cached := ps.counts[countKey{r, userID}]
		ps.mu.Unlock()
		if cached {
			if _, err := s.unread(ctx, r, userID, m.joinedAt, pos); err != nil {
				return err
			}
		}
	}
	if err := s.putAccountData(ctx, userID, "", pushRulesType, content); err != nil {
		return fmt.Errorf("publish push rules of %s: %w", userID, err)
	}
	ps.mu.Lock()
	ps.rules[userID] = &userRules{evl: evl}
	ps.mu.Unlock()
	return nil
}

func compileRulesContent(userID string, content json.RawMessage) (*push.Evaluator, error) {
	var c struct {
		Global push.Ruleset `json:"global"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return nil, fmt.Errorf("push rules of %s: %w", userID, err)
	}
	if c.Global == nil {
		c.Global = push.Predefined(userID)
	}
	return push.Compile(c.Global), nil
}

// evaluator returns the user's compiled rules: from the m.push_rules
// account data, or the predefined rules when there is none.
func (s *Service) evaluator(ctx context.Context, userID string) (*userRules, error) {
	ps := s.pushState()
	ps.mu.Lock()
	ur := ps.rules[userID]
	ps.mu.Unlock()
	if ur != nil {
		return ur, nil
	}
	rows, err := s.userData.AccountData(ctx, userID, 0)
	if err != nil {
		return nil, fmt.Errorf("load push rules of %s: %w", userID, err)
	}
	var evl *push.Evaluator
	for _, a := range rows {
		if a.RoomID == "" && a.Type == pushRulesType {
			if e, err := compileRulesContent(userID, a.Content); err == nil {
				evl = e
			}
		}
	}
	if evl == nil {
		evl = push.Compile(push.Predefined(userID))
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if cur := ps.rules[userID]; cur != nil { // a PutPushRules meanwhile wins
		return cur, nil
	}
	ur = &userRules{evl: evl}
	ps.rules[userID] = ur
	return ur, nil
}

// parsedEvent returns e parsed for evaluation, once per event of the
// recent windows (keep); an event read from the database is parsed each
// time, so that it does not crowd the cache.
func (s *Service) parsedEvent(e *Event, keep bool) *push.Event {
	if !keep {
		pe, err := push.ParseEvent(e.Client)
		if err != nil {
			pe, _ = push.ParseEvent([]byte(`{}`))
		}
		return pe
	}
	ps := s.pushState()
	ps.mu.Lock()
	pe := ps.parsed[e]
	ps.mu.Unlock()
	if pe != nil {
		return pe
	}
	pe, err := push.ParseEvent(e.Client)
	if err != nil {
		pe, _ = push.ParseEvent([]byte(`{}`))
	}
	ps.mu.Lock()
	if len(ps.parsed) >= maxParsed {
		clear(ps.parsed)
	}
	ps.parsed[e] = pe
	ps.mu.Unlock()
	return pe
}

// lightEvent is a stored event with what evaluation and the client
// format need, without parsing its PDU (counting reads many events).
func lightEvent(se storage.Event) *Event {
	return &Event{NID: se.NID, ID: se.EventID, Pos: se.Pos, Sender: se.Sender, Client: se.Client, Unsigned: se.Unsigned}
}

// roomPush is what evaluation needs from one room's current state,
// gathered once per batch of events.
type roomPush struct {
	r       *room
	joined  int
	notif   map[string]int64
	senders map[string]int64  // sender → power level
	names   map[string]string // recipient → display name
}

func (s *Service) roomPush(r *room) *roomPush {
	rp := &roomPush{r: r, senders: map[string]int64{}, names: map[string]string{}}
	ps := s.pushState()
	r.view.RLock()
	last, recent, floor := r.lastPos, r.recent, r.floor
	plEv := r.cur[tuple{spec.MRoomPowerLevels, ""}]
	r.view.RUnlock()
	ps.mu.Lock()
	mc, ok := ps.members[r]
	ps.mu.Unlock()
	if ok && mc.lastPos != last && floor <= mc.lastPos {
		// Reuse the count when no membership event came since.
		for _, e := range recent {
			if e.Pos > mc.lastPos && e.Type == spec.MRoomMember {
				ok = false
				break
			}
		}
	} else if ok && mc.lastPos != last {
		ok = false
	}
	if !ok {
		mc = memberCount{}
		r.view.RLock()
		for k, e := range r.cur {
			if k.typ == spec.MRoomMember && e.Membership() == spec.Join {
				mc.joined++
			}
		}
		r.view.RUnlock()
	}
	if mc.lastPos != last || mc.pl != plEv {
		if mc.pl != plEv || mc.notif == nil {
			mc.notif = map[string]int64{"room": 50}
		}
		if mc.pl != plEv && plEv != nil {
			if pl, err := plEv.PDU.PowerLevels(); err == nil {
				mc.notif = map[string]int64{"room": pl.NotificationLevel("room")}
				for k, v := range pl.Notifications {
					mc.notif[k] = v
				}
			}
		}
		mc.lastPos, mc.pl = last, plEv
		ps.mu.Lock()
		ps.members[r] = mc
		ps.mu.Unlock()
	}
	rp.joined, rp.notif = mc.joined, mc.notif
	return rp
}

// env is the evaluation environment of userID for an event by sender;
// display names and power levels are looked up once per batch.
func (rp *roomPush) env(userID, sender string) *push.Env {
	lvl, ok := rp.senders[sender]
	if !ok {
		lvl, _ = rp.r.powerLevel(sender)
		rp.senders[sender] = lvl
	}
	name, ok := rp.names[userID]
	if !ok {
		if m := rp.r.stateEvent(spec.MRoomMember, userID); m != nil {
			name = gjson.GetBytes(m.Client, "content.displayname").String()
		}
		rp.names[userID] = name
	}
	return &push.Env{UserID: userID, DisplayName: name, MemberCount: rp.joined, SenderPowerLevel: lvl, NotificationLevels: rp.notif}
}

// actions evaluates e for userID; a user's own events and those of
// users they ignore never notify.
func (s *Service) actions(rp *roomPush, ur *userRules, userID string, e *Event, ignored map[string]bool, keep bool) push.Actions {
	if e.Sender == userID || ignored[e.Sender] {
		return push.Actions{}
	}
	return ur.evl.Evaluate(s.parsedEvent(e, keep), rp.env(userID, e.Sender))
}

func (c *UnreadCounts) add(a push.Actions) {
	n, h := a.Counts()
	if n {
		c.Notification++
	}
	if h {
		c.Highlight++
	}
}
