// Package todevice stores send-to-device messages
// (https://spec.matrix.org/latest/client-server-api/#send-to-device-messaging)
// in a durable per-device inbox and wakes the long polls of their
// recipients. Messages stay in the inbox until the recipient acknowledges
// them by syncing with a token past them.
package todevice

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// Devices lists the device IDs of a local user; an unknown user has none.
type Devices interface {
	DeviceIDs(ctx context.Context, userID string) ([]string, error)
}

// Message is one to-device event as /sync delivers it.
type Message struct {
	Type    string          `json:"type"`
	Sender  string          `json:"sender"`
	Content json.RawMessage `json:"content"`
}

// Sender identifies the device that sends a batch of messages.
type Sender struct {
	UserID   string
	DeviceID string
}

// Delivery is one message for one device.
type Delivery struct {
	UserID, DeviceID string
	Content          json.RawMessage
}

// Store persists the inboxes.
type Store interface {
	// Deliver records txnID of from and, when it is new, stores every
	// delivery of type typ, all in one transaction committed before it
	// returns. It returns false for a transaction already recorded.
	Deliver(ctx context.Context, from Sender, txnID, typ string, to []Delivery) (bool, error)
	// Inbox deletes the device's messages at or before ack and returns up
	// to limit messages after it, with the position of the last (ack when
	// none).
	Inbox(ctx context.Context, userID, deviceID string, ack int64, limit int) ([]Message, int64, error)
	// Pending reports whether the device has messages after pos.
	Pending(ctx context.Context, userID, deviceID string, pos int64) (bool, error)

	// RecordDeviceListChange appends a change of userID's device list to
	// the device list stream.
	RecordDeviceListChange(ctx context.Context, userID string) error
	// DeviceListPos is the stream's latest committed position.
	DeviceListPos(ctx context.Context) (int64, error)
	// DeviceListChanges lists the users, sorted, with changes in (from, to].
	DeviceListChanges(ctx context.Context, from, to int64) ([]string, error)
}

// Service is the to-device inbox.
type Service struct {
	store   Store
	devices Devices
	isLocal func(userID string) bool

	mu           sync.Mutex
	waiters      map[device]chan struct{}
	listsChanged chan struct{} // closed at the next device list change
}

type device struct{ user, id string }

// New returns the service over store. isLocal says whether a user ID
// belongs to this server: messages for other servers are dropped (there is
// no federation yet).
func New(store Store, devices Devices, isLocal func(string) bool) *Service {
	return &Service{store: store, devices: devices, isLocal: isLocal, waiters: map[device]chan struct{}{}}
}

// Send delivers messages ({user: {device or "*": content}}) of type typ.
// It is idempotent per (sender device, txnID): a repeated transaction
// returns nil without delivering again. Messages for remote or unknown
// users and unknown devices are dropped. When Send returns nil the
// messages are committed.
func (s *Service) Send(ctx context.Context, from Sender, txnID, typ string, messages map[string]map[string]json.RawMessage) error {
	var out []Delivery
	for user, byDevice := range messages {
		if !s.isLocal(user) {
			continue
		}
		ids, err := s.devices.DeviceIDs(ctx, user)
		if err != nil {
			return fmt.Errorf("devices of %s: %w", user, err)
		}
		known := make(map[string]bool, len(ids))
		for _, id := range ids {
			known[id] = true
		}
		if c, ok := byDevice["*"]; ok {
			for _, id := range ids {
				out = append(out, Delivery{UserID: user, DeviceID: id, Content: c})
			}
		}
		for id, c := range byDevice {
			// A message for one device alongside "*" is not sent twice.
			if id == "*" || !known[id] {
				continue
			}
			if _, all := byDevice["*"]; all {
				continue
			}
			out = append(out, Delivery{UserID: user, DeviceID: id, Content: c})
		}
	}
	fresh, err := s.store.Deliver(ctx, from, txnID, typ, out)
	if err != nil {
		return err
	}
	if !fresh {
		return nil // a retried transaction
	}
	s.mu.Lock()
	for _, d := range out {
		k := device{d.UserID, d.DeviceID}
		if ch, ok := s.waiters[k]; ok {
			close(ch)
			delete(s.waiters, k)
		}
	}
	s.mu.Unlock()
	return nil
}

// Changed returns a channel closed at the next delivery to the device.
// Take it before reading the inbox so that no delivery is missed.
func (s *Service) Changed(userID, deviceID string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := device{userID, deviceID}
	ch, ok := s.waiters[k]
	if !ok {
		ch = make(chan struct{})
		s.waiters[k] = ch
	}
	return ch
}

// Inbox acknowledges (deletes) the device's messages up to and including
// ack, then returns up to limit messages after ack and the position of
// the last one returned (ack when none).
func (s *Service) Inbox(ctx context.Context, userID, deviceID string, ack int64, limit int) ([]Message, int64, error) {
	return s.store.Inbox(ctx, userID, deviceID, ack, limit)
}

// Pending reports whether the device has messages after pos.
func (s *Service) Pending(ctx context.Context, userID, deviceID string, pos int64) (bool, error) {
	return s.store.Pending(ctx, userID, deviceID, pos)
}
