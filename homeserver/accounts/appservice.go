package accounts

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"time"

	"gopkg.in/yaml.v3"

	"scop/homeserver"
)

// AppService is an application service registration (spec: Application
// Service API, "Registration"), as read from its YAML file.
type AppService struct {
	ID              string `yaml:"id"`
	URL             string `yaml:"url"`
	ASToken         string `yaml:"as_token"`
	HSToken         string `yaml:"hs_token"`
	SenderLocalpart string `yaml:"sender_localpart"`
	Namespaces      struct {
		Users   []Namespace `yaml:"users"`
		Aliases []Namespace `yaml:"aliases"`
		Rooms   []Namespace `yaml:"rooms"`
	} `yaml:"namespaces"`
	RateLimited *bool    `yaml:"rate_limited"`
	Protocols   []string `yaml:"protocols"`
	// ReceiveEphemeral asks for receipts in transactions (spec
	// receive_ephemeral; MSC2409's name is accepted too).
	ReceiveEphemeral bool `yaml:"receive_ephemeral"`
	MSC2409Ephemeral bool `yaml:"de.sorunome.msc2409.push_ephemeral"`
}

// WantsEphemeral reports whether the application service asked for
// ephemeral events.
func (as *AppService) WantsEphemeral() bool { return as.ReceiveEphemeral || as.MSC2409Ephemeral }

// Namespace is one regular expression of an application service's
// namespace; Exclusive reserves the matching IDs to it.
type Namespace struct {
	Exclusive bool   `yaml:"exclusive"`
	Regex     string `yaml:"regex"`
	re        *regexp.Regexp
}

// ParseAppService parses and checks a registration file. The regexes
// must match a whole ID, as the spec intends ("^...$" is implied).
func ParseAppService(data []byte) (AppService, error) {
	var as AppService
	if err := yaml.Unmarshal(data, &as); err != nil {
		return AppService{}, fmt.Errorf("parse registration: %w", err)
	}
	switch {
	case as.ID == "":
		return AppService{}, errors.New("registration: id is required")
	case len(as.ASToken) < 16:
		return AppService{}, errors.New("registration: as_token must be at least 16 characters")
	case len(as.HSToken) < 16:
		return AppService{}, errors.New("registration: hs_token must be at least 16 characters")
	case as.ASToken == as.HSToken:
		return AppService{}, errors.New("registration: as_token and hs_token must differ")
	case as.SenderLocalpart == "":
		return AppService{}, errors.New("registration: sender_localpart is required")
	}
	for _, group := range []struct {
		name string
		ns   []Namespace
	}{{"users", as.Namespaces.Users}, {"aliases", as.Namespaces.Aliases}, {"rooms", as.Namespaces.Rooms}} {
		for i := range group.ns {
			re, err := regexp.Compile("^(?:" + group.ns[i].Regex + ")$")
			if err != nil {
				return AppService{}, fmt.Errorf("registration: namespaces.%s[%d].regex: %w", group.name, i, err)
			}
			group.ns[i].re = re
		}
	}
	return as, nil
}

// Matches reports whether id is in one of the namespaces, and whether an
// exclusive one.
func matchNamespaces(ns []Namespace, id string) (match, exclusive bool) {
	for _, n := range ns {
		if n.re != nil && n.re.MatchString(id) {
			match = true
			exclusive = exclusive || n.Exclusive
		}
	}
	return match, exclusive
}

// UserInNamespace reports whether the application service may act as userID.
func (as *AppService) UserInNamespace(userID, serverName string) bool {
	if userID == "@"+as.SenderLocalpart+":"+serverName {
		return true
	}
	m, _ := matchNamespaces(as.Namespaces.Users, userID)
	return m
}

// AliasInNamespace reports whether a room alias is in the application
// service's alias namespaces.
func (as *AppService) AliasInNamespace(alias string) bool {
	m, _ := matchNamespaces(as.Namespaces.Aliases, alias)
	return m
}

// RoomInNamespace reports whether a room ID is in the application
// service's room namespaces.
func (as *AppService) RoomInNamespace(roomID string) bool {
	m, _ := matchNamespaces(as.Namespaces.Rooms, roomID)
	return m
}

// SetAppServices installs the application services: their tokens
// authenticate as their sender user (created if needed, with no usable
// password) or, with ?user_id=, as any user of their namespace.
func (s *Service) SetAppServices(ctx context.Context, list []AppService) error {
	byToken := map[[32]byte]*AppService{}
	for i := range list {
		as := &list[i]
		if err := s.ValidateLocalpart(as.SenderLocalpart); err != nil {
			return fmt.Errorf("application service %s: sender_localpart: %w", as.ID, err)
		}
		h := sha256.Sum256([]byte(as.ASToken))
		if _, dup := byToken[h]; dup {
			return fmt.Errorf("application service %s: as_token is used twice", as.ID)
		}
		byToken[h] = as
		err := s.store.CreateUser(ctx, User{Localpart: as.SenderLocalpart, PasswordHash: "!", DisplayName: as.SenderLocalpart,
			CreatedTS: time.Now().UnixMilli()})
		if err != nil && !errors.Is(err, ErrExists) {
			return fmt.Errorf("application service %s: create sender: %w", as.ID, err)
		}
	}
	s.mu.Lock()
	s.appServices = byToken
	s.mu.Unlock()
	return nil
}

// appServiceByToken returns the application service owning token.
func (s *Service) appServiceByToken(token string) *AppService {
	h := sha256.Sum256([]byte(token))
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.appServices[h]
}

// AppService returns the registration of an authenticated application
// service device, or nil.
func (s *Service) AppService(id string) *AppService {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, as := range s.appServices {
		if as.ID == id {
			return as
		}
	}
	return nil
}

// Exclusive reports whether localpart is reserved by an application
// service's exclusive user namespace.
func (s *Service) Exclusive(localpart string) bool {
	id := s.UserID(localpart)
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, as := range s.appServices {
		if _, ex := matchNamespaces(as.Namespaces.Users, id); ex || localpart == as.SenderLocalpart {
			return true
		}
	}
	return false
}

// Masquerade returns the device an application service acts through when
// it names userID (the ?user_id= parameter): the user must be in its
// namespace and registered.
func (s *Service) Masquerade(ctx context.Context, dev homeserver.Device, userID string) (homeserver.Device, error) {
	as := s.AppService(dev.AppServiceID)
	if as == nil {
		return homeserver.Device{}, homeserver.Errorf(homeserver.ErrForbidden, "Only application services can use user_id")
	}
	if !as.UserInNamespace(userID, s.serverName) {
		return homeserver.Device{}, homeserver.Errorf(homeserver.ErrForbidden, "User %s is not in the application service's namespace", userID)
	}
	local, ok := s.Localpart(userID)
	if !ok {
		return homeserver.Device{}, homeserver.Errorf(homeserver.ErrForbidden, "Not a local user")
	}
	u, err := s.store.User(ctx, local)
	if errors.Is(err, ErrNotFound) || err == nil && u.Deactivated {
		return homeserver.Device{}, homeserver.Errorf(homeserver.ErrForbidden, "Application service has not registered %s", userID)
	}
	if err != nil {
		return homeserver.Device{}, fmt.Errorf("load user %s: %w", userID, err)
	}
	return homeserver.Device{UserID: s.UserID(local), AppServiceID: as.ID}, nil
}

// RegisterAppServiceUser creates a user in the namespace of the
// application service authenticated by token, with no usable password.
func (s *Service) RegisterAppServiceUser(ctx context.Context, token, localpart string) (string, error) {
	as := s.appServiceByToken(token)
	if as == nil {
		return "", homeserver.Errorf(homeserver.ErrForbidden, "m.login.application_service needs an application service token")
	}
	if err := s.ValidateLocalpart(localpart); err != nil {
		return "", err
	}
	if !as.UserInNamespace(s.UserID(localpart), s.serverName) {
		return "", homeserver.Errorf(homeserver.ErrExclusive, "User ID is not in the application service's namespace")
	}
	err := s.store.CreateUser(ctx, User{Localpart: localpart, PasswordHash: "!", DisplayName: localpart, CreatedTS: time.Now().UnixMilli()})
	if errors.Is(err, ErrExists) {
		return "", homeserver.Errorf(homeserver.ErrUserInUse, "User ID already taken")
	}
	if err != nil {
		return "", fmt.Errorf("create user %s: %w", localpart, err)
	}
	return s.UserID(localpart), nil
}

// AppServiceLogin checks that token belongs to an application service that
// may log in as user (m.login.application_service) and returns the user ID.
func (s *Service) AppServiceLogin(ctx context.Context, token, user string) (string, error) {
	as := s.appServiceByToken(token)
	if as == nil {
		return "", homeserver.Errorf(homeserver.ErrForbidden, "m.login.application_service needs an application service token")
	}
	local, ok := s.Localpart(user)
	if !ok {
		return "", homeserver.Errorf(homeserver.ErrForbidden, "Not a local user")
	}
	dev, err := s.Masquerade(ctx, homeserver.Device{AppServiceID: as.ID}, s.UserID(local))
	if err != nil {
		return "", err
	}
	return dev.UserID, nil
}
