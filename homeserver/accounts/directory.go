package accounts

import (
	"context"
	"fmt"

	"scop/homeserver"
)

// UserSearcher is implemented by a Store that can search users.
type UserSearcher interface {
	SearchUsers(ctx context.Context, term string, limit int) ([]User, error)
}

// DirectoryEntry is one user directory result.
type DirectoryEntry struct {
	UserID      string `json:"user_id"`
	DisplayName string `json:"display_name,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// SearchDirectory searches all active local users by ID and display name
// (the policy Synapse calls search_all_users: on a small self-hosted server
// every user may find every other). limited reports more matches than
// limit.
func (s *Service) SearchDirectory(ctx context.Context, term string, limit int) ([]DirectoryEntry, bool, error) {
	us, ok := s.store.(UserSearcher)
	if !ok {
		return nil, false, homeserver.Errorf(homeserver.ErrUnrecognized, "User search is not available")
	}
	// A search for "@alice:server" means the localpart.
	if local, ok := s.Localpart(term); ok && len(term) > 0 && term[0] == '@' {
		term = local
	}
	users, err := us.SearchUsers(ctx, term, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("search users: %w", err)
	}
	limited := len(users) > limit
	if limited {
		users = users[:limit]
	}
	out := make([]DirectoryEntry, 0, len(users))
	for _, u := range users {
		out = append(out, DirectoryEntry{UserID: s.UserID(u.Localpart), DisplayName: u.DisplayName, AvatarURL: u.AvatarURL})
	}
	return out, limited, nil
}
