package appservice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"scop/homeserver/accounts"
	"scop/homeserver/rooms"
)

// scanLimit is how many stream events one read covers; the interesting
// ones among them fill transactions of up to MaxTxnEvents.
const scanLimit = 500

// persistEvery bounds how often a sender records a position it reached
// by skipping uninteresting events (acknowledged transactions are
// recorded at once).
const persistEvery = 5 * time.Second

// sender delivers one application service's transactions, one at a time.
type sender struct {
	svc   *Service
	as    *accounts.AppService
	src   Source
	store Store

	pos       int64 // last acknowledged (or skipped) position
	persisted int64
	savedAt   time.Time
	pending   *pendingTxn // stored and being delivered
	// wake cuts a backoff short: a successful ping shows that the
	// application service is back.
	wake chan struct{}
}

// pendingTxn is a transaction recorded in the store before its first
// attempt, so that it is resent verbatim until acknowledged.
type pendingTxn struct {
	id   string
	body []byte
	end  int64 // the position its acknowledgement reaches
}

// Start begins delivering transactions to every registration with a URL,
// each from its stored position (a new registration starts at the
// current stream position: it gets no history). Registrations without a
// URL get no pushes.
func (s *Service) Start(ctx context.Context, src Source, store Store) error {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.cancel != nil {
		return errors.New("appservice: already started")
	}
	var senders []*sender
	for _, as := range s.list {
		if as.URL == "" {
			continue
		}
		st, ok, err := store.State(ctx, as.ID)
		if err != nil {
			return fmt.Errorf("appservice %s: load position: %w", as.ID, err)
		}
		if !ok {
			st.Pos, _ = src.StreamPosition()
			if err := store.SetPosition(ctx, as.ID, st.Pos); err != nil {
				return fmt.Errorf("appservice %s: store position: %w", as.ID, err)
			}
		}
		if cur, _ := src.StreamPosition(); st.Pos > cur {
			// A position from the future (a restored database): resume
			// from now rather than wait for the stream to catch up.
			st.Pos, st.PendingID = cur, ""
			if err := store.SetPosition(ctx, as.ID, st.Pos); err != nil {
				return fmt.Errorf("appservice %s: store position: %w", as.ID, err)
			}
		}
		snd := &sender{svc: s, as: as, src: src, store: store, pos: st.Pos, persisted: st.Pos, savedAt: time.Now(),
			wake: make(chan struct{}, 1)}
		if st.PendingID != "" {
			snd.pending = &pendingTxn{id: st.PendingID, body: st.Pending, end: st.PendingEnd}
		}
		senders = append(senders, snd)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.senders = senders
	for _, snd := range senders {
		s.wg.Go(func() { snd.run(runCtx) })
	}
	return nil
}

// Close stops the senders (an in-flight transaction is abandoned and
// resent after a restart) and records the positions they reached.
func (s *Service) Close() {
	s.runMu.Lock()
	cancel := s.cancel
	s.runMu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	s.wg.Wait()
}

func (snd *sender) run(ctx context.Context) {
	defer snd.persist(true)
	for ctx.Err() == nil {
		if p := snd.pending; p != nil {
			if !snd.deliver(ctx, p.id, p.body) {
				return // stopping: the transaction stays pending in the store
			}
			snd.pos, snd.pending = p.end, nil
			snd.persist(true)
			continue
		}
		cur, changed := snd.src.StreamPosition()
		if snd.pos >= cur {
			snd.persist(false)
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
			continue
		}
		if err := snd.step(ctx); err != nil && ctx.Err() == nil {
			snd.svc.opts.Log.Error("application service delivery", "appservice", snd.as.ID, "err", err)
			if !snd.sleep(ctx, snd.svc.opts.MinBackoff) {
				return
			}
		}
	}
}

// step reads the stream after the position and either records the next
// transaction as pending (run delivers it) or, when nothing there is of
// interest, advances.
func (snd *sender) step(ctx context.Context) error {
	evs, reached, err := snd.src.StreamEvents(ctx, snd.pos, scanLimit)
	if err != nil {
		return err
	}
	in := newInterest(snd.as, snd.svc.opts.ServerName, snd.src, snd.pos)
	var batch []json.RawMessage
	for _, e := range evs {
		ok, err := in.event(ctx, e)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		batch = append(batch, e.JSON)
		if len(batch) == MaxTxnEvents {
			reached = e.Pos
			break
		}
	}
	var ephemeral []json.RawMessage
	if snd.as.WantsEphemeral() {
		receipts, err := snd.src.StreamReceipts(ctx, snd.pos, reached)
		if err != nil {
			return err
		}
		for _, e := range receipts {
			ok, err := in.room(ctx, e.RoomID)
			if err != nil {
				return err
			}
			if ok {
				ephemeral = append(ephemeral, e.JSON)
			}
		}
	}
	if len(batch)+len(ephemeral) > 0 {
		txnID := strconv.FormatInt(snd.pos, 10) + "-" + strconv.FormatInt(reached, 10)
		body, err := encodeTxn(batch, ephemeral, !snd.as.ReceiveEphemeral)
		if err != nil {
			return err
		}
		if err := snd.store.SetPending(ctx, snd.as.ID, txnID, body, reached); err != nil {
			return err
		}
		snd.pending = &pendingTxn{id: txnID, body: body, end: reached}
		return nil
	}
	snd.pos = reached
	return nil
}

// encodeTxn renders a transaction body; ephemeral events go under the
// spec's name, or MSC2409's for a registration that asked under it.
func encodeTxn(events, ephemeral []json.RawMessage, msc2409 bool) ([]byte, error) {
	if events == nil {
		events = []json.RawMessage{}
	}
	txn := struct {
		Events    []json.RawMessage `json:"events"`
		Ephemeral []json.RawMessage `json:"ephemeral,omitempty"`
		MSC2409   []json.RawMessage `json:"de.sorunome.msc2409.ephemeral,omitempty"`
	}{Events: events}
	if msc2409 {
		txn.MSC2409 = ephemeral
	} else {
		txn.Ephemeral = ephemeral
	}
	b, err := json.Marshal(txn)
	if err != nil {
		return nil, fmt.Errorf("encode transaction: %w", err)
	}
	return b, nil
}

// deliver sends the transaction until the application service answers
// 2xx, backing off exponentially; false when ctx ended first.
func (snd *sender) deliver(ctx context.Context, txnID string, body []byte) bool {
	wait := snd.svc.opts.MinBackoff
	for {
		err := snd.send(ctx, txnID, body)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		snd.svc.opts.Log.Warn("application service transaction failed; retrying", "appservice", snd.as.ID,
			"txn_id", txnID, "retry_in", wait, "err", err)
		if !snd.sleep(ctx, wait) {
			return false
		}
		wait = min(wait*2, snd.svc.opts.MaxBackoff)
	}
}

// send makes one attempt.
func (snd *sender) send(ctx context.Context, txnID string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, snd.svc.opts.TxnTimeout)
	defer cancel()
	req, err := newRequest(ctx, snd.as, http.MethodPut, "/_matrix/app/v1/transactions/"+url.PathEscape(txnID), body)
	if err != nil {
		return fmt.Errorf("transaction %s: %w", txnID, err)
	}
	resp, err := snd.svc.client.Do(req)
	if err != nil {
		return fmt.Errorf("transaction %s: %w", txnID, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("transaction %s: status %d", txnID, resp.StatusCode)
	}
	return nil
}

// persist records the position when it moved: always when force, else
// at most every persistEvery (skipped ranges need no prompt record: a
// restart merely rescans them).
func (snd *sender) persist(force bool) {
	if snd.pending != nil || snd.pos == snd.persisted || !force && time.Since(snd.savedAt) < persistEvery {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := snd.store.SetPosition(ctx, snd.as.ID, snd.pos); err != nil {
		snd.svc.opts.Log.Error("application service position not saved", "appservice", snd.as.ID, "err", err)
		return
	}
	snd.persisted, snd.savedAt = snd.pos, time.Now()
}

// sleep waits d, or less when woken; false when ctx ended.
func (snd *sender) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-snd.wake:
		return true
	case <-ctx.Done():
		return false
	}
}

// wakeSender cuts short the backoff of asID's sender, if it has one.
func (s *Service) wakeSender(asID string) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	for _, snd := range s.senders {
		if snd.as.ID == asID {
			select {
			case snd.wake <- struct{}{}:
			default:
			}
		}
	}
}

// interest decides which events of one scan an application service gets.
type interest struct {
	as     *accounts.AppService
	server string
	src    Source
	from   int64
	rooms  map[string]bool
}

func newInterest(as *accounts.AppService, server string, src Source, from int64) *interest {
	return &interest{as: as, server: server, src: src, from: from, rooms: map[string]bool{}}
}

// event reports whether the application service is interested in e: its
// sender or (for m.room.member) target is in the user namespaces, or its
// room is (see room).
func (in *interest) event(ctx context.Context, e rooms.StreamEvent) (bool, error) {
	if matchEvent(in.as, in.server, e) {
		return true, nil
	}
	return in.room(ctx, e.RoomID)
}

// matchEvent is the part of the interest decided by the event alone.
func matchEvent(as *accounts.AppService, server string, e rooms.StreamEvent) bool {
	if as.UserInNamespace(e.Sender, server) || as.RoomInNamespace(e.RoomID) {
		return true
	}
	return e.Type == "m.room.member" && e.StateKey != nil && as.UserInNamespace(*e.StateKey, server)
}

// room reports whether the room is in the room namespaces, has an alias
// in the alias namespaces, or has a member in the user namespaces who is
// joined or whose membership changed during this scan (so events sent
// before a ghost left in the same scan still reach the bridge).
func (in *interest) room(ctx context.Context, roomID string) (bool, error) {
	if v, ok := in.rooms[roomID]; ok {
		return v, nil
	}
	v, err := in.roomUncached(ctx, roomID)
	if err != nil {
		return false, err
	}
	in.rooms[roomID] = v
	return v, nil
}

func (in *interest) roomUncached(ctx context.Context, roomID string) (bool, error) {
	if in.as.RoomInNamespace(roomID) {
		return true, nil
	}
	members, err := in.src.RoomMembers(ctx, roomID)
	if err != nil {
		return false, err
	}
	for _, m := range members {
		if (m.Membership == "join" || m.Pos > in.from) && in.as.UserInNamespace(m.UserID, in.server) {
			return true, nil
		}
	}
	if len(in.as.Namespaces.Aliases) == 0 {
		return false, nil
	}
	aliases, err := in.src.LocalAliases(ctx, roomID)
	if err != nil {
		return false, err
	}
	for _, a := range aliases {
		if in.as.AliasInNamespace(a) {
			return true, nil
		}
	}
	return false, nil
}
