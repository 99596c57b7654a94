package notifier

import (
	"context"
	"errors"
	"fmt"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	cinotify "scop/ci-notify"
	"scop/ci-notify/format"
	"scop/ci-notify/store"
)

// Flush brings one pipeline's message up to date with its stored state:
// posts it if it has none yet, edits it otherwise, and does nothing if it is
// current. It holds the pipeline's lease meanwhile, so another process
// sharing the state directory waits (ErrLeased) instead of racing.
func (n *Notifier) Flush(ctx context.Context, k store.Key) error {
	if err := n.store.Lease(ctx, k, n.owner, leaseTime); err != nil {
		return err
	}
	defer n.store.Release(context.WithoutCancel(ctx), k, n.owner)
	// Updates may land while posting; a few rounds catch up, and anything
	// later is queued again by Submit.
	for round := range 5 {
		if round > 0 {
			// Renew: the previous round may have spent long in retries.
			if err := n.store.Lease(ctx, k, n.owner, leaseTime); err != nil {
				return err
			}
		}
		row, err := n.store.Get(ctx, k)
		if err != nil {
			return err
		}
		if row.Version <= row.PostedVersion {
			return nil
		}
		if err := n.post(ctx, row); err != nil {
			return fmt.Errorf("post %s/%s v%d: %w", k.Repo, k.Pipeline, row.Version, err)
		}
	}
	return nil
}

func (n *Notifier) post(ctx context.Context, row *store.Row) error {
	if n.cfg.Encrypt && n.cli.Crypto == nil {
		// Never send plaintext where encryption was asked for.
		return errPermanent{ErrNoCrypto}
	}
	roomID := id.RoomID(row.RoomID)
	if roomID == "" {
		r, err := n.ensureRoom(ctx, row.Repo)
		if err != nil {
			return err
		}
		roomID = r
		if err := n.store.SetRoom(ctx, row.Key, string(roomID)); err != nil {
			return err
		}
	}
	if err := n.checkEncryption(ctx, roomID); err != nil {
		return err
	}
	var mention *format.Mention
	if row.State.Overall() == cinotify.StatusFailure {
		if mx, ok := n.cfg.Users[row.State.Author]; ok && mx != "" {
			mention = &format.Mention{UserID: mx, DisplayName: row.State.Author}
		}
	}
	msg := format.Render(&row.State, mention)
	content := event.MessageEventContent{
		MsgType:       event.MsgText, // m.notice would be muted by .m.rule.suppress_notices, mentions too
		Body:          msg.Plain,
		Format:        event.FormatHTML,
		FormattedBody: msg.HTML,
		Mentions:      &event.Mentions{},
	}
	if mention != nil {
		content.Mentions.UserIDs = []id.UserID{id.UserID(mention.UserID)}
	}
	eventID := id.EventID(row.EventID)
	if eventID == "" {
		if tk := threadKey(n.cfg.Threads, &row.State); tk != "" {
			root, err := n.ensureThread(ctx, roomID, tk, &row.State)
			if err != nil {
				return err
			}
			content.RelatesTo = &event.RelatesTo{Type: event.RelThread, EventID: root, IsFallingBack: true,
				InReplyTo: &event.InReplyTo{EventID: root}}
		}
		// Before the send, so a crash after it is known to be ambiguous.
		if err := n.store.MarkSendAttempted(ctx, row.Key); err != nil {
			return err
		}
		ev, err := n.send(ctx, roomID, &content, row.TxnBase()+".0")
		if err != nil {
			return err
		}
		eventID = ev
		if !row.SendAttempted {
			if err := n.store.MarkPosted(ctx, row.Key, string(eventID), row.Version, mention != nil); err != nil {
				return err
			}
			n.log.Debug("posted", "repo", row.Repo, "pipeline", row.Pipeline, "event_id", eventID, "version", row.Version)
			return nil
		}
		// A send before a crash may have been accepted with older content,
		// and the homeserver just returned that event: edit it to current.
		content.RelatesTo = nil
	}
	newContent := content
	newContent.RelatesTo = nil
	edit := event.MessageEventContent{
		MsgType:       event.MsgText,
		Body:          "* " + msg.Plain,
		Format:        event.FormatHTML,
		FormattedBody: "* " + msg.HTML,
		NewContent:    &newContent,
		RelatesTo:     &event.RelatesTo{Type: event.RelReplace, EventID: eventID},
		// Only users not mentioned before are pinged again by an edit.
		Mentions: &event.Mentions{},
	}
	if mention != nil && !row.Mentioned {
		edit.Mentions.UserIDs = []id.UserID{id.UserID(mention.UserID)}
	}
	if _, err := n.send(ctx, roomID, &edit, fmt.Sprintf("%s.e%d", row.TxnBase(), row.Version)); err != nil {
		return err
	}
	if err := n.store.MarkPosted(ctx, row.Key, string(eventID), row.Version, mention != nil); err != nil {
		return err
	}
	n.log.Debug("edited", "repo", row.Repo, "pipeline", row.Pipeline, "event_id", eventID, "version", row.Version)
	return nil
}

// send sends an m.room.message under a fixed transaction ID, retrying.
func (n *Notifier) send(ctx context.Context, roomID id.RoomID, content any, txnID string) (id.EventID, error) {
	var resp *mautrix.RespSendEvent
	err := n.cfg.Retry.do(ctx, n.log, &n.gate, func(ctx context.Context) error {
		var err error
		resp, err = n.cli.SendMessageEvent(ctx, roomID, event.EventMessage, content, mautrix.ReqSendEvent{TransactionID: txnID})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("send to %s: %w", roomID, err)
	}
	return resp.EventID, nil
}

// threadKey names the thread a pipeline belongs in under mode, or "".
func threadKey(mode string, p *cinotify.Pipeline) string {
	switch {
	case (mode == "pr" || mode == "ref") && p.PullRequest != "":
		return "pr:" + p.PullRequest
	case (mode == "branch" || mode == "ref") && p.Ref != "":
		return "branch:" + p.Ref
	}
	return ""
}

// ensureThread returns the root event of a thread, posting it first if new.
func (n *Notifier) ensureThread(ctx context.Context, roomID id.RoomID, key string, p *cinotify.Pipeline) (id.EventID, error) {
	root, err := n.store.Thread(ctx, string(roomID), key)
	if err == nil {
		return id.EventID(root), nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	title := "Builds of branch " + p.Ref
	if p.PullRequest != "" && key[:3] == "pr:" {
		title = "Builds of pull request #" + p.PullRequest
	}
	content := event.MessageEventContent{MsgType: event.MsgText, Body: "🧵 " + p.Repo + ": " + title, Mentions: &event.Mentions{}}
	txn := store.Key{Repo: string(roomID), Pipeline: "thread\x00" + key}.TxnBase()
	ev, err := n.send(ctx, roomID, &content, txn)
	if err != nil {
		return "", fmt.Errorf("thread root %s: %w", key, err)
	}
	if err := n.store.SetThread(ctx, string(roomID), key, string(ev)); err != nil {
		return "", err
	}
	return ev, nil
}

// checkEncryption makes sure, once per room and process, that the client's
// state store knows whether the room is encrypted, by asking the homeserver
// if the store does not say so: mautrix encrypts only rooms its store marks
// encrypted, and plaintext must never go into an encrypted room.
func (n *Notifier) checkEncryption(ctx context.Context, roomID id.RoomID) error {
	n.mu.Lock()
	done := n.encChecked[roomID]
	n.mu.Unlock()
	if done {
		return nil
	}
	var enc event.EncryptionEventContent
	err := n.cfg.Retry.do(ctx, n.log, &n.gate, func(ctx context.Context) error {
		return n.cli.StateEvent(ctx, roomID, event.StateEncryption, "", &enc)
	})
	switch {
	case errors.Is(err, mautrix.MNotFound):
	case err != nil:
		return fmt.Errorf("check encryption of %s: %w", roomID, err)
	case enc.Algorithm != "":
		if n.cli.Crypto == nil {
			return errPermanent{fmt.Errorf("room %s is encrypted: %w", roomID, ErrNoCrypto)}
		}
		if err := n.cli.StateStore.SetEncryptionEvent(ctx, roomID, &enc); err != nil {
			return fmt.Errorf("record encryption of %s: %w", roomID, err)
		}
	}
	n.mu.Lock()
	n.encChecked[roomID] = true
	n.mu.Unlock()
	return nil
}
