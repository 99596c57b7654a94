package rooms

import (
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// presenceIdle is how long after its last sync ended (with none in
// flight) and its last PUT a user stays online (or unavailable): clients long-poll
// without pause, so a longer gap means the client is gone.
const presenceIdle = 60 * time.Second

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
	log   []presenceChange // changes in generation order, for changedSince
	wake  func()
	idle  time.Duration
	// visible reports whether an observer may see a user's presence (set
	// by UsePresence: room mates only); nil allows everyone.
	visible func(observer, user string) bool
}

type presenceChange struct {
	gen  int64
	user string
}

type presenceEntry struct {
	state     string
	statusMsg *string
	active    time.Time
	gen       int64 // generation of the last change
	bySync    bool  // the state came from set_presence, not PUT /presence
	quiet     bool  // the change does not end long polls (see SyncStarted)
	syncing   int   // syncs in flight
	expiry    *time.Timer
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
	return &Presence{gen: time.Now().UnixMilli(), users: map[string]*presenceEntry{}, idle: presenceIdle}
}

// ValidPresence reports whether state is one of the spec's values.
func ValidPresence(state string) bool {
	return state == "online" || state == "offline" || state == "unavailable"
}

// Set records a presence set explicitly (PUT /presence/{userId}/status)
// and reports whether it changed what room mates see.
func (p *Presence) Set(userID, state string, statusMsg *string) bool {
	p.mu.Lock()
	e := p.entry(userID)
	e.active = time.Now()
	changed := p.change(userID, e, state, statusMsg, false, false)
	p.armExpiry(userID, e)
	wake := p.wake
	p.mu.Unlock()
	if changed && wake != nil {
		wake()
	}
	return changed
}

// entry returns userID's entry, creating an offline one (p.mu held).
func (p *Presence) entry(userID string) *presenceEntry {
	e := p.users[userID]
	if e == nil {
		e = &presenceEntry{state: "offline", gen: -1}
		p.users[userID] = e
	}
	return e
}

// change applies a new state and reports whether it differs (p.mu held).
func (p *Presence) change(userID string, e *presenceEntry, state string, msg *string, bySync, quiet bool) bool {
	if e.gen >= 0 && e.state == state && sameMsg(e.statusMsg, msg) {
		return false
	}
	p.gen++
	e.state, e.statusMsg, e.bySync, e.quiet, e.gen = state, msg, bySync, quiet, p.gen
	p.log = append(p.log, presenceChange{p.gen, userID})
	if len(p.log) > 64 && len(p.log) > 2*len(p.users) {
		// Keep one entry per user: the log stays proportional to users.
		kept := p.log[:0]
		for _, c := range p.log {
			if p.users[c.user].gen == c.gen {
				kept = append(kept, c)
			}
		}
		p.log = kept
	}
	return true
}

// SyncStarted records a sync of userID with its set_presence ("" counts
// as online, the spec's default): online brings an offline or unknown
// user online, unavailable makes the user unavailable, offline changes
// nothing; an explicit unavailable set through PUT (Element's idle
// marker) stays until PUT changes it. Every call must be followed by
// SyncEnded. It reports whether the state changed.
//
// The implicit online of a sync without set_presence is quiet: room
// mates get it with their next answer, but it neither wakes their long
// polls nor ends them (every client start would otherwise wake every
// room mate's poll). An explicit set_presence wakes them like PUT does.
func (p *Presence) SyncStarted(userID, setPresence string) bool {
	quiet := setPresence == ""
	if quiet {
		setPresence = "online"
	}
	p.mu.Lock()
	e := p.entry(userID)
	e.syncing++
	e.active = time.Now()
	changed := false
	switch {
	case setPresence == "offline":
	case setPresence == "online" && e.state == "unavailable" && !e.bySync:
	default:
		changed = p.change(userID, e, setPresence, e.statusMsg, true, quiet)
	}
	wake := p.wake
	p.mu.Unlock()
	if changed && !quiet && wake != nil {
		wake()
	}
	return changed
}

// SyncEnded records the end of a sync begun with SyncStarted.
func (p *Presence) SyncEnded(userID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.entry(userID)
	e.syncing--
	e.active = time.Now()
	p.armExpiry(userID, e)
}

// armExpiry schedules the fall to offline of a user who is not offline
// once idle (p.mu held): online, or unavailable (a client that set its
// idle marker and then went away must not stay unavailable forever). The
// fall is quiet: room mates see it with their next answer.
func (p *Presence) armExpiry(userID string, e *presenceEntry) {
	if e.state == "offline" || e.syncing > 0 {
		return
	}
	if e.expiry != nil {
		e.expiry.Reset(p.idle)
		return
	}
	e.expiry = time.AfterFunc(p.idle, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if e.state == "offline" || e.syncing > 0 {
			return
		}
		if rest := p.idle - time.Since(e.active); rest > 0 {
			e.expiry.Reset(rest)
			return
		}
		p.change(userID, e, "offline", e.statusMsg, true, true)
	})
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
	if e == nil || e.gen < 0 {
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

// changedSince returns the users whose latest presence change lies in
// (gen, upTo] (all users with a presence when gen is 0), sorted, with
// their presence and whether each change was quiet. A user who changed
// again after upTo is left for the next token, so a change is never
// sent twice. It reads only the log's tail.
func (p *Presence) changedSince(gen, upTo int64) ([]string, map[string]PresenceStatus, map[string]bool) {
	if p == nil {
		return nil, nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	i := sort.Search(len(p.log), func(i int) bool { return p.log[i].gen > gen })
	var users []string
	out := map[string]PresenceStatus{}
	quiet := map[string]bool{}
	for _, c := range p.log[i:] {
		if c.gen > upTo {
			break
		}
		e := p.users[c.user]
		if e.gen != c.gen {
			continue // an older change of a user who changed again
		}
		users = append(users, c.user)
		out[c.user] = e.status()
		quiet[c.user] = e.quiet
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
	p.visible = s.sharesRoom
	p.mu.Unlock()
}

// Visible reports whether observer may see user's presence: presence is
// for room mates (Client-Server API, "Presence"), as in /sync, so that a
// stranger cannot follow anyone's status. Without a rooms service
// attached everyone may.
func (p *Presence) Visible(observer, user string) bool {
	p.mu.Lock()
	visible := p.visible
	p.mu.Unlock()
	return visible == nil || visible(observer, user)
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
// (and userID) changed in (gen, upTo], as the filter allows, and whether any
// of them was a change that ends a long poll (not quiet).
func (s *Service) presenceEvents(userID string, gen, upTo int64, f *EventFilter) ([]json.RawMessage, bool) {
	out := []json.RawMessage{}
	loud := false
	users, st, quiet := s.presence().changedSince(gen, upTo)
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
