package todevice

import "context"

// DeviceListChanged records that userID's device list or keys changed and
// wakes every parked sync, which then checks whether it shares a room
// with the user.
func (s *Service) DeviceListChanged(ctx context.Context, userID string) error {
	if err := s.store.RecordDeviceListChange(ctx, userID); err != nil {
		return err
	}
	s.mu.Lock()
	if s.listsChanged != nil {
		close(s.listsChanged)
		s.listsChanged = nil
	}
	s.mu.Unlock()
	return nil
}

// DeviceListsChanged returns a channel closed at the next device list
// change of any user. Take it before reading the position.
func (s *Service) DeviceListsChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listsChanged == nil {
		s.listsChanged = make(chan struct{})
	}
	return s.listsChanged
}

// DeviceListPos is the position of the latest device list change.
func (s *Service) DeviceListPos(ctx context.Context) (int64, error) {
	return s.store.DeviceListPos(ctx)
}

// DeviceListChanges lists the users whose device lists changed after
// position from and at or before to.
func (s *Service) DeviceListChanges(ctx context.Context, from, to int64) ([]string, error) {
	return s.store.DeviceListChanges(ctx, from, to)
}
