package rooms

import (
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Presence tracks users' presence in memory. Presence is ephemeral: it is
// never written to disk (so setting it costs no fsync), and after a
// restart everyone reads as offline until their clients set it again,
// which they do on their next /sync. Each change takes a new generation,
// which sync tokens carry; generations start at the Unix time in
// milliseconds, so tokens from before a restart stay below the new ones
// and nothing is repeated or skipped.
type Presence struct {
	mu    sync.Mutex
	gen   int64
	users map[string]*presenceEntry
	wake  func()
}

type presenceEntry struct {
	state     string
	statusMsg *string
	active    time.Time
	gen       int64 // generation of the last change
	bySync    bool  // the state came from set_presence, not PUT /presence
	quiet     bool  // the change was a sync's implicit online (see Touch)
}

// PresenceStatus is one user's presence as clients see it.
type PresenceStatus struct {
	Presence        string  `json:"presence"`
	StatusMsg       *string `json:"status_msg,omitempty"`
	LastActiveAgo   int64   `json:"last_active_ago"`
	CurrentlyActive bool    `json:"currently_active"`
}

// NewPresence returns an empty tracker.
func NewPresence() *Presence {
	return &Presence{gen: time.Now().UnixMilli(), users: map[string]*presenceEntry{}}
}

// ValidPresence reports whether state is one of the spec's values.
func ValidPresence(state string) bool {
	return state == "online" || state == "offline" || state == "unavailable"
}

// Set records a presence set explicitly (PUT /presence/{userId}/status)
// and reports whether it changed what room mates see.
func (p *Presence) Set(userID, state string, statusMsg *string) bool {
	return p.set(userID, state, statusMsg, false, false)
}

func (p *Presence) set(userID, state string, statusMsg *string, bySync, quiet bool) bool {
	p.mu.Lock()
	e := p.users[userID]
	changed := e == nil || e.state != state || !sameMsg(e.statusMsg, statusMsg)
	if e == nil {
		e = &presenceEntry{}
		p.users[userID] = e
	}
	e.state, e.statusMsg, e.active, e.bySync = state, statusMsg, time.Now(), bySync
	if changed {
		p.gen++
		e.gen, e.quiet = p.gen, quiet
	}
	wake := p.wake
	p.mu.Unlock()
	if changed && !quiet && wake != nil {
		wake()
	}
	return changed
}

// Touch records a syncing client's set_presence ("" counts as online,
// the spec's default): online brings an offline or unknown user online,
// unavailable makes the user unavailable, offline changes nothing. An
// unchanged state only moves the last activity, in memory, with no new
// generation. It reports whether the state changed.
//
// The implicit online of a sync without set_presence is quiet: room
// mates get it with their next answer, but it neither wakes their long
// polls nor ends them (every client start would otherwise wake every
// room mate's poll). An explicit set_presence wakes them like PUT does.
func (p *Presence) Touch(userID, setPresence string) bool {
	quiet := setPresence == ""
	if quiet {
		setPresence = "online"
	}
	if setPresence == "offline" {
		return false
	}
	p.mu.Lock()
	e := p.users[userID]
	if e != nil && (e.state == setPresence || (setPresence == "online" && e.state == "unavailable" && !e.bySync)) {
		// An explicit unavailable (Element's idle marker) stays until
		// the client says otherwise through PUT /presence.
		if setPresence == "online" && e.state == "online" {
			e.active = time.Now()
		}
		p.mu.Unlock()
		return false
	}
	var msg *string
	if e != nil {
		msg = e.statusMsg
	}
	p.mu.Unlock()
	return p.set(userID, setPresence, msg, true, quiet)
}

func sameMsg(a, b *string) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

// Get returns a user's presence; ok is false when none was set since the
// server started.
func (p *Presence) Get(userID string) (st PresenceStatus, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.users[userID]
	if e == nil {
		return PresenceStatus{}, false
	}
	return e.status(), true
}

func (e *presenceEntry) status() PresenceStatus {
	return PresenceStatus{Presence: e.state, StatusMsg: e.statusMsg,
		LastActiveAgo: time.Since(e.active).Milliseconds(), CurrentlyActive: e.state == "online"}
}

func (p *Presence) generation() int64 {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gen
}

// changedSince returns the users whose presence changed after gen (all
// users with a presence when gen is 0), sorted, with their presence and
// the users whose change was quiet.
func (p *Presence) changedSince(gen int64) ([]string, map[string]PresenceStatus, map[string]bool) {
	if p == nil {
		return nil, nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var users []string
	out := map[string]PresenceStatus{}
	quiet := map[string]bool{}
	for u, e := range p.users {
		if e.gen > gen {
			users = append(users, u)
			out[u] = e.status()
			quiet[u] = e.quiet
		}
	}
	sort.Strings(users)
	return users, out, quiet
}

// UsePresence makes the service deliver p's changes in /sync (the
// presence section) and wake long-polling syncs when they happen.
func (s *Service) UsePresence(p *Presence) {
	x := s.extras()
	x.mu.Lock()
	x.presence = p
	x.mu.Unlock()
	p.mu.Lock()
	p.wake = s.notify.poke
	p.mu.Unlock()
}

func (s *Service) presence() *Presence {
	x := s.extras()
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.presence
}

// sharesRoom reports whether a and b are both joined to some room.
func (s *Service) sharesRoom(a, b string) bool {
	if a == b {
		return true
	}
	s.memMu.RLock()
	defer s.memMu.RUnlock()
	ra, rb := s.memberships[a], s.memberships[b]
	if len(rb) < len(ra) {
		ra, rb = rb, ra
	}
	for id, m := range ra {
		if m.membership != spec.Join {
			continue
		}
		if o := rb[id]; o != nil && o.membership == spec.Join {
			return true
		}
	}
	return false
}

// presenceEvents returns the m.presence events of userID's room mates
// (and userID) changed after gen, as the filter allows, and whether any
// of them was a change that ends a long poll (not quiet).
func (s *Service) presenceEvents(userID string, gen int64, f *EventFilter) ([]json.RawMessage, bool) {
	out := []json.RawMessage{}
	loud := false
	users, st, quiet := s.presence().changedSince(gen)
	limit := -1
	if f != nil && f.Limit != nil {
		limit = *f.Limit
	}
	for _, u := range users {
		if len(out) == limit {
			break
		}
		if !f.allows("m.presence", u) || !s.sharesRoom(userID, u) {
			continue
		}
		loud = loud || !quiet[u]
		out = append(out, mustJSON(struct {
			Type    string         `json:"type"`
			Sender  string         `json:"sender"`
			Content PresenceStatus `json:"content"`
		}{"m.presence", u, st[u]}))
	}
	return out, loud
}
