package rooms

import (
	"fmt"
	"testing"
	"time"
)

// perEvent is the spec's rule applied to one event at pos, straight from
// the change lists: the reference the spans must agree with.
func perEvent(ix *visIndex, user string, pos int64) bool {
	mem := ix.members[user]
	var lastJoin int64 = -1
	own := false
	for _, c := range mem {
		if c.val == "join" {
			lastJoin = c.pos
		}
		own = own || c.pos == pos
	}
	if own {
		return true
	}
	isHV := false
	for _, c := range ix.hv {
		isHV = isHV || c.pos == pos
	}
	if hvAllows(valueBefore(ix.hv, pos), valueBefore(mem, pos), lastJoin > pos) {
		return true
	}
	return isHV && hvAllows(valueBefore(ix.hv, pos+1), valueBefore(mem, pos+1), lastJoin > pos)
}

func checkSpans(t *testing.T, ix *visIndex, user string, upTo int64) {
	t.Helper()
	sp := ix.spans(user, upTo)
	for i, s := range sp {
		if s.lo >= s.hi || s.hi > upTo || (i > 0 && sp[i-1].hi >= s.lo) {
			t.Fatalf("spans %v: not ascending, disjoint and within %d", sp, upTo)
		}
	}
	for pos := int64(1); pos <= upTo; pos++ {
		if got, want := sees(sp, pos), perEvent(ix, user, pos); got != want {
			t.Fatalf("pos %d: spans %v say visible=%v, the per-event rule %v (hv %v, member %v)",
				pos, sp, got, want, ix.hv, ix.members[user])
		}
	}
}

func TestSpansMatchPerEventRule(t *testing.T) {
	const u = "@u:test"
	tests := []struct {
		name    string
		hv      []change
		members []change
	}{
		{"default shared, joined late", nil, []change{{10, "join"}}},
		{"joined from the start", []change{{2, "joined"}}, []change{{10, "join"}}},
		{"shared then joined", []change{{2, "shared"}, {5, "joined"}}, []change{{10, "join"}}},
		{"joined then shared", []change{{2, "joined"}, {5, "shared"}}, []change{{10, "join"}}},
		{"invited", []change{{2, "invited"}}, []change{{6, "invite"}, {10, "join"}}},
		{"left and rejoined", []change{{2, "joined"}}, []change{{4, "join"}, {8, "leave"}, {12, "join"}}},
		{"world readable era", []change{{2, "world_readable"}, {6, "joined"}}, []change{{10, "join"}}},
		{"never a member", []change{{2, "world_readable"}, {6, "shared"}, {9, "world_readable"}}, nil},
		{"banned", []change{{2, "shared"}}, []change{{3, "join"}, {7, "ban"}}},
		{"change at the join", []change{{2, "joined"}, {10, "shared"}}, []change{{10, "join"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ix := &visIndex{hv: tc.hv, members: map[string][]change{u: tc.members}}
			for _, upTo := range []int64{1, 5, 9, 10, 11, 20} {
				checkSpans(t, ix, u, upTo)
			}
		})
	}
}

// FuzzSpans checks the spans against the per-event rule for arbitrary
// change histories.
func FuzzSpans(f *testing.F) {
	f.Add([]byte{2, 1, 10, 4}, []byte{5, 0, 9, 1})
	f.Add([]byte{1, 3, 4, 0}, []byte{3, 0, 6, 2, 7, 0})
	f.Add([]byte{}, []byte{})
	vals := []string{"shared", "joined", "invited", "world_readable", "bogus"}
	mems := []string{"join", "invite", "leave", "ban", "knock"}
	f.Fuzz(func(t *testing.T, hvb, memb []byte) {
		if len(hvb) > 40 || len(memb) > 40 {
			return
		}
		ix := &visIndex{members: map[string][]change{}}
		var pos int64
		used := map[int64]bool{}
		for i := 0; i+1 < len(hvb); i += 2 {
			pos += int64(hvb[i]%7) + 1
			ix.hv = append(ix.hv, change{pos, vals[int(hvb[i+1])%len(vals)]})
			used[pos] = true
		}
		pos = 0
		for i := 0; i+1 < len(memb); i += 2 {
			pos += int64(memb[i]%7) + 1
			if used[pos] { // one event per position
				continue
			}
			ix.members["@u:test"] = append(ix.members["@u:test"], change{pos, mems[int(memb[i+1])%len(mems)]})
		}
		checkSpans(t, ix, "@u:test", 200)
	})
}

// FuzzParseSyncToken checks the token parser never panics and reads back
// what formatting wrote.
func FuzzParseSyncToken(f *testing.F) {
	for _, s := range []string{"s0", "s12_3", "s12_3_1700000000000", "s1_2_3_4", "x", "s-1", "s__", "s9999999999999999999", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		pos, typ, pres, err := parseSyncToken(tok)
		if err != nil {
			return
		}
		if pos < 0 || typ < 0 || pres < 0 {
			t.Fatalf("%q: negative parts %d %d %d", tok, pos, typ, pres)
		}
		again := fmt.Sprintf("%s_%d_%d", formatToken(pos), typ, pres)
		p2, t2, r2, err := parseSyncToken(again)
		if err != nil || p2 != pos || t2 != typ || r2 != pres {
			t.Fatalf("%q → %q does not read back: %v", tok, again, err)
		}
	})
}

func TestPresenceGenerations(t *testing.T) {
	p := NewPresence()
	woken := 0
	p.wake = func() { woken++ }
	g0 := p.generation()
	sync := func(set string) bool {
		defer p.SyncEnded("@a:test")
		return p.SyncStarted("@a:test", set)
	}
	if !sync("") || woken != 0 {
		t.Fatalf("implicit online: changed, without waking (woken %d)", woken)
	}
	if sync("") || sync("offline") {
		t.Fatal("an unchanged presence took a new generation")
	}
	msg := "away"
	if !p.Set("@a:test", "unavailable", &msg) || woken != 1 {
		t.Fatalf("explicit change: woken %d", woken)
	}
	if sync("") {
		t.Fatal("a sync's implicit online overrode an explicit unavailable")
	}
	if !p.Set("@b:test", "online", nil) || !p.Set("@b:test", "unavailable", nil) {
		t.Fatal("changes of b")
	}
	users, st, quiet := p.changedSince(g0, p.generation())
	if len(users) != 2 || st["@a:test"].Presence != "unavailable" || *st["@a:test"].StatusMsg != "away" || quiet["@a:test"] || st["@b:test"].Presence != "unavailable" {
		t.Fatalf("changedSince: %v %v %v", users, st, quiet)
	}
	if users, _, _ := p.changedSince(p.generation(), p.generation()+10); len(users) != 0 {
		t.Fatalf("changes after the current generation: %v", users)
	}
	// A change after the token's generation waits for the next token.
	g1 := p.generation()
	p.Set("@a:test", "online", nil)
	if users, _, _ := p.changedSince(g0, g1); len(users) != 1 || users[0] != "@b:test" {
		t.Fatalf("changedSince up to %d: %v (a changed after it)", g1, users)
	}
	if _, ok := p.Get("@nobody:test"); ok {
		t.Fatal("presence of a user who set none")
	}
}

func TestPresenceFallsOfflineWhenIdle(t *testing.T) {
	p := NewPresence()
	p.idle = time.Millisecond
	p.SyncStarted("@a:test", "")
	g := p.generation()
	p.SyncEnded("@a:test")
	deadline := time.Now().Add(10 * time.Second)
	for {
		users, st, quiet := p.changedSince(g, p.generation())
		if len(users) == 1 && st["@a:test"].Presence == "offline" && quiet["@a:test"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %v %v after the idle time", users, st)
		}
		time.Sleep(time.Millisecond)
	}
	// A sync in flight keeps the user online however long it lasts.
	p.SyncStarted("@a:test", "")
	time.Sleep(5 * time.Millisecond)
	if st, _ := p.Get("@a:test"); st.Presence != "online" {
		t.Fatalf("fell %s during a sync", st.Presence)
	}
	p.SyncEnded("@a:test")
}

// TestPresenceIdleAnyStateFallsOffline: a user whose client set
// unavailable (sync or PUT, Element's idle marker) and then went away
// falls offline like an online one; offline stays offline.
func TestPresenceIdleAnyStateFallsOffline(t *testing.T) {
	tests := []struct {
		name string
		set  func(p *Presence)
	}{
		{"sync set_presence unavailable", func(p *Presence) {
			p.SyncStarted("@a:test", "unavailable")
			p.SyncEnded("@a:test")
		}},
		{"PUT unavailable", func(p *Presence) {
			msg := "afk"
			p.Set("@a:test", "unavailable", &msg)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPresence()
			p.idle = time.Millisecond
			tc.set(p)
			deadline := time.Now().Add(10 * time.Second)
			for {
				st, _ := p.Get("@a:test")
				if st.Presence == "offline" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("still %s long after the idle time", st.Presence)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}
