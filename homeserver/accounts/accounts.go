// Package accounts manages local users, their devices and access tokens,
// password hashes and profiles. It holds the registration and login rules;
// storage sits behind the Store interface (SQLite in sqlitestore).
package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"scop/homeserver"
)

// ErrNotFound is returned by a Store when a user or device does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned by a Store when a user already exists.
var ErrExists = errors.New("already exists")

// User is a stored local account.
type User struct {
	Localpart    string
	PasswordHash string
	IsAdmin      bool
	DisplayName  string
	AvatarURL    string
	CreatedTS    int64 // ms since the epoch
	Deactivated  bool
}

// Device is a stored device of a user with the hash of its current token.
type Device struct {
	UserID      string
	DeviceID    string
	DisplayName string
	TokenHash   []byte
	LastSeenTS  int64
	LastSeenIP  string
}

// Store persists accounts. Implementations return ErrNotFound and
// ErrExists (wrapped or not) for the cases they name.
type Store interface {
	CreateUser(ctx context.Context, u User) error
	User(ctx context.Context, localpart string) (User, error)
	SetPasswordHash(ctx context.Context, localpart, hash string) error
	SetDisplayName(ctx context.Context, localpart, name string) error
	SetAvatarURL(ctx context.Context, localpart, url string) error
	// Deactivate marks a user deactivated for good.
	Deactivate(ctx context.Context, localpart string) error
	// PushRules and SetPushRules keep a user's push rule changes as an
	// opaque JSON document (nil when there are none).
	PushRules(ctx context.Context, userID string) ([]byte, error)
	SetPushRules(ctx context.Context, userID string, data []byte) error
	// PutDevice creates the device or, when it exists, replaces its token
	// (and display name when d.DisplayName is not empty).
	PutDevice(ctx context.Context, d Device) error
	DeviceByToken(ctx context.Context, hash []byte) (Device, error)
	Device(ctx context.Context, userID, deviceID string) (Device, error)
	Devices(ctx context.Context, userID string) ([]Device, error)
	RenameDevice(ctx context.Context, userID, deviceID, name string) error
	// TouchDevice records when and from where a device was last used.
	TouchDevice(ctx context.Context, userID, deviceID string, ts int64, ip string) error
	// DeleteDevices deletes the named devices of userID (all of them when
	// ids is nil) except keep, and returns the deleted devices.
	DeleteDevices(ctx context.Context, userID string, ids []string, keep string) ([]Device, error)
}

// Options tune the service.
type Options struct {
	// BcryptCost is the bcrypt work factor; 0 means bcrypt.DefaultCost.
	BcryptCost int
	// TokenRecheck is how long a cached access token is trusted before it
	// is looked up again; 0 means a minute.
	TokenRecheck time.Duration
}

// Service implements the account rules over a Store. It keeps a cache of
// token hash → device so that authenticating a request costs no database
// read on the hot path. Revocations through this service update the cache
// at once; those made by another process on the same database (scop user
// passwd) take effect within Options.TokenRecheck, when a cached entry is
// checked against the database again.
type Service struct {
	store      Store
	serverName string
	cost       int
	recheck    time.Duration

	mu          sync.RWMutex
	byToken     map[[32]byte]cachedDevice
	byDevice    map[string][32]byte // userID|deviceID → token hash
	appServices map[[32]byte]*AppService

	dummyOnce sync.Once
	dummyHash []byte

	seenMu sync.Mutex
	seen   map[string]time.Time // userID|deviceID → last recorded use
}

type cachedDevice struct {
	dev     homeserver.Device
	checked time.Time
}

// New returns a service for the users of serverName.
func New(store Store, serverName string, opts Options) *Service {
	cost := opts.BcryptCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	recheck := opts.TokenRecheck
	if recheck == 0 {
		recheck = time.Minute
	}
	return &Service{store: store, serverName: serverName, cost: cost, recheck: recheck,
		byToken: map[[32]byte]cachedDevice{}, byDevice: map[string][32]byte{}, seen: map[string]time.Time{}}
}

// ServerName is the server part of the user IDs this service owns.
func (s *Service) ServerName() string { return s.serverName }

// ValidateLocalpart checks a localpart for registration: the spec's
// historical-safe set a-z 0-9 . _ = - / + and a length that keeps the full
// ID within 255 bytes.
func (s *Service) ValidateLocalpart(localpart string) error {
	if localpart == "" {
		return homeserver.Errorf(homeserver.ErrInvalidUsername, "User ID must not be empty")
	}
	if len(localpart)+len(s.serverName)+2 > 255 {
		return homeserver.Errorf(homeserver.ErrInvalidUsername, "User ID is too long")
	}
	for _, c := range localpart {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("._=-/+", c)
		if !ok {
			return homeserver.Errorf(homeserver.ErrInvalidUsername, "User ID may only contain a-z, 0-9 and . _ = - / +")
		}
	}
	return nil
}

// UserID returns the full ID of a local localpart.
func (s *Service) UserID(localpart string) string { return "@" + localpart + ":" + s.serverName }

// Localpart returns the localpart of a user ID of this server, accepting a
// bare localpart too. ok is false for another server's or a malformed ID.
func (s *Service) Localpart(id string) (string, bool) {
	if !strings.HasPrefix(id, "@") {
		return strings.ToLower(id), id != "" && !strings.Contains(id, ":")
	}
	local, server, found := strings.Cut(id[1:], ":")
	if !found || server != s.serverName || local == "" {
		return "", false
	}
	return strings.ToLower(local), true
}

// Available reports, as an error, why localpart cannot be registered by
// a user (application services register through RegisterAppServiceUser).
func (s *Service) Available(ctx context.Context, localpart string) error {
	if err := s.ValidateLocalpart(localpart); err != nil {
		return err
	}
	if s.Exclusive(localpart) {
		return homeserver.Errorf(homeserver.ErrExclusive, "User ID is reserved by an application service")
	}
	_, err := s.store.User(ctx, localpart)
	switch {
	case err == nil:
		return homeserver.Errorf(homeserver.ErrUserInUse, "User ID already taken")
	case errors.Is(err, ErrNotFound):
		return nil
	default:
		return fmt.Errorf("check user %s: %w", localpart, err)
	}
}

// hashInput pre-hashes a password so that bcrypt, which reads at most 72
// bytes, depends on every byte of long passphrases.
func hashInput(password string) []byte {
	sum := sha256.Sum256([]byte(password))
	return []byte(base64.StdEncoding.EncodeToString(sum[:]))
}

func (s *Service) hash(password string) (string, error) {
	if password == "" {
		return "", homeserver.Errorf(homeserver.ErrWeakPassword, "Password must not be empty")
	}
	h, err := bcrypt.GenerateFromPassword(hashInput(password), s.cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// Register creates a local user and returns its user ID.
func (s *Service) Register(ctx context.Context, localpart, password string, admin bool) (string, error) {
	if err := s.ValidateLocalpart(localpart); err != nil {
		return "", err
	}
	h, err := s.hash(password)
	if err != nil {
		return "", err
	}
	u := User{Localpart: localpart, PasswordHash: h, IsAdmin: admin, DisplayName: localpart, CreatedTS: time.Now().UnixMilli()}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, ErrExists) {
			return "", homeserver.Errorf(homeserver.ErrUserInUse, "User ID already taken")
		}
		return "", fmt.Errorf("create user %s: %w", localpart, err)
	}
	return s.UserID(localpart), nil
}

// CheckPassword returns the full user ID when password is right for the
// user named by id (a localpart or a full ID). Unknown users and wrong
// passwords give the same M_FORBIDDEN.
func (s *Service) CheckPassword(ctx context.Context, id, password string) (string, error) {
	forbidden := homeserver.Errorf(homeserver.ErrForbidden, "Invalid username or password")
	local, ok := s.Localpart(id)
	if !ok {
		return "", forbidden
	}
	u, err := s.store.User(ctx, local)
	if errors.Is(err, ErrNotFound) {
		// Spend the time a real check takes, so that timing does not
		// tell which users exist.
		s.dummyOnce.Do(func() { s.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("scop"), s.cost) })
		bcrypt.CompareHashAndPassword(s.dummyHash, hashInput(password))
		return "", forbidden
	}
	if err != nil {
		return "", fmt.Errorf("load user %s: %w", local, err)
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), hashInput(password)) != nil {
		return "", forbidden
	}
	if u.Deactivated {
		// Said only to whoever knows the password.
		return "", homeserver.Errorf(homeserver.ErrUserDeactivated, "This account has been deactivated")
	}
	return s.UserID(local), nil
}

// Session is a freshly issued access token for a device.
type Session struct {
	UserID      string
	DeviceID    string
	AccessToken string
}

// Login issues a new access token for deviceID of userID (a new device ID
// when empty). An existing device keeps its ID and loses its old token.
func (s *Service) Login(ctx context.Context, userID, deviceID, displayName, ip string) (Session, error) {
	if deviceID == "" {
		deviceID = randomID(10)
	} else if len(deviceID) > 255 {
		return Session{}, homeserver.Errorf(homeserver.ErrInvalidParam, "device_id is too long")
	}
	tok := "scop_" + randomToken()
	h := sha256.Sum256([]byte(tok))
	d := Device{UserID: userID, DeviceID: deviceID, DisplayName: displayName, TokenHash: h[:], LastSeenTS: time.Now().UnixMilli(), LastSeenIP: ip}
	if err := s.store.PutDevice(ctx, d); err != nil {
		return Session{}, fmt.Errorf("store device %s of %s: %w", deviceID, userID, err)
	}
	s.forget(userID, deviceID)
	s.seenMu.Lock()
	s.seen[userID+"|"+deviceID] = time.Now() // Login just recorded it
	s.seenMu.Unlock()
	return Session{UserID: userID, DeviceID: deviceID, AccessToken: tok}, nil
}

// Authenticate resolves an access token to its device (clientapi.Authenticator).
// An application service's as_token authenticates as its sender user.
func (s *Service) Authenticate(ctx context.Context, token string) (homeserver.Device, error) {
	h := sha256.Sum256([]byte(token))
	s.mu.RLock()
	c, ok := s.byToken[h]
	as := s.appServices[h]
	s.mu.RUnlock()
	if ok && time.Since(c.checked) < s.recheck {
		return c.dev, nil
	}
	if as != nil {
		return homeserver.Device{UserID: s.UserID(as.SenderLocalpart), AppServiceID: as.ID}, nil
	}
	d, err := s.store.DeviceByToken(ctx, h[:])
	if errors.Is(err, ErrNotFound) {
		if ok { // revoked by another process
			s.forget(c.dev.UserID, c.dev.DeviceID)
		}
		return homeserver.Device{}, homeserver.Errorf(homeserver.ErrUnknownToken, "Unknown access token")
	}
	if err != nil {
		return homeserver.Device{}, fmt.Errorf("look up token: %w", err)
	}
	dev := homeserver.Device{UserID: d.UserID, DeviceID: d.DeviceID}
	if local, ok := s.Localpart(d.UserID); ok {
		if u, err := s.store.User(ctx, local); err == nil {
			dev.IsAdmin = u.IsAdmin
		}
	}
	s.mu.Lock()
	s.byToken[h] = cachedDevice{dev: dev, checked: time.Now()}
	s.byDevice[d.UserID+"|"+d.DeviceID] = h
	s.mu.Unlock()
	return dev, nil
}

// seenInterval is how stale a device's recorded last use may get: one
// write per device per interval keeps the hot path free of writes.
const seenInterval = 5 * time.Minute

// Touch records that dev was used from ip, at most once per
// seenInterval per device (clientapi calls it on authenticated requests).
func (s *Service) Touch(ctx context.Context, dev homeserver.Device, ip string) {
	if dev.DeviceID == "" {
		return
	}
	key, now := dev.UserID+"|"+dev.DeviceID, time.Now()
	s.seenMu.Lock()
	last, ok := s.seen[key]
	if ok && now.Sub(last) < seenInterval {
		s.seenMu.Unlock()
		return
	}
	s.seen[key] = now
	s.seenMu.Unlock()
	// Best effort: a failed write only leaves last_seen older.
	s.store.TouchDevice(ctx, dev.UserID, dev.DeviceID, now.UnixMilli(), ip)
}

// forget drops the cached token of a device.
func (s *Service) forget(userID, deviceID string) {
	key := userID + "|" + deviceID
	s.mu.Lock()
	if h, ok := s.byDevice[key]; ok {
		delete(s.byToken, h)
		delete(s.byDevice, key)
	}
	s.mu.Unlock()
	s.seenMu.Lock()
	delete(s.seen, key)
	s.seenMu.Unlock()
}

// DeleteDevices deletes devices of userID (every device when ids is nil)
// except keep, revoking their tokens.
func (s *Service) DeleteDevices(ctx context.Context, userID string, ids []string, keep string) error {
	deleted, err := s.store.DeleteDevices(ctx, userID, ids, keep)
	if err != nil {
		return fmt.Errorf("delete devices of %s: %w", userID, err)
	}
	for _, d := range deleted {
		s.forget(d.UserID, d.DeviceID)
	}
	return nil
}

// SetPassword replaces a user's password; with logoutDevices every device
// but keep is deleted.
func (s *Service) SetPassword(ctx context.Context, userID, password string, logoutDevices bool, keep string) error {
	local, ok := s.Localpart(userID)
	if !ok {
		return homeserver.Errorf(homeserver.ErrForbidden, "Not a local user")
	}
	h, err := s.hash(password)
	if err != nil {
		return err
	}
	if err := s.store.SetPasswordHash(ctx, local, h); err != nil {
		return fmt.Errorf("set password of %s: %w", userID, err)
	}
	if logoutDevices {
		return s.DeleteDevices(ctx, userID, nil, keep)
	}
	return nil
}

// Deactivate closes a local account for good: every device is logged
// out, the profile is cleared, and the user ID stays taken.
func (s *Service) Deactivate(ctx context.Context, userID string) error {
	local, ok := s.Localpart(userID)
	if !ok {
		return homeserver.Errorf(homeserver.ErrForbidden, "Not a local user")
	}
	if err := s.store.Deactivate(ctx, local); err != nil {
		if errors.Is(err, ErrNotFound) {
			return homeserver.Errorf(homeserver.ErrNotFound, "Unknown user")
		}
		return fmt.Errorf("deactivate %s: %w", userID, err)
	}
	return s.DeleteDevices(ctx, userID, nil, "")
}

// PushRules returns the user's stored push rule changes (nil when none).
func (s *Service) PushRules(ctx context.Context, userID string) ([]byte, error) {
	data, err := s.store.PushRules(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("load push rules of %s: %w", userID, err)
	}
	return data, nil
}

// SetPushRules stores the user's push rule changes.
func (s *Service) SetPushRules(ctx context.Context, userID string, data []byte) error {
	if err := s.store.SetPushRules(ctx, userID, data); err != nil {
		return fmt.Errorf("store push rules of %s: %w", userID, err)
	}
	return nil
}

// Devices lists a user's devices.
func (s *Service) Devices(ctx context.Context, userID string) ([]Device, error) {
	ds, err := s.store.Devices(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list devices of %s: %w", userID, err)
	}
	return ds, nil
}

// Device returns one device of a user, or M_NOT_FOUND.
func (s *Service) Device(ctx context.Context, userID, deviceID string) (Device, error) {
	d, err := s.store.Device(ctx, userID, deviceID)
	if errors.Is(err, ErrNotFound) {
		return Device{}, homeserver.Errorf(homeserver.ErrNotFound, "Unknown device")
	}
	if err != nil {
		return Device{}, fmt.Errorf("load device %s of %s: %w", deviceID, userID, err)
	}
	return d, nil
}

// RenameDevice sets a device's display name, or answers M_NOT_FOUND.
func (s *Service) RenameDevice(ctx context.Context, userID, deviceID, name string) error {
	err := s.store.RenameDevice(ctx, userID, deviceID, name)
	if errors.Is(err, ErrNotFound) {
		return homeserver.Errorf(homeserver.ErrNotFound, "Unknown device")
	}
	if err != nil {
		return fmt.Errorf("rename device %s of %s: %w", deviceID, userID, err)
	}
	return nil
}

// Profile returns a local user's display name and avatar URL, or
// M_NOT_FOUND when there is no such user (remote users included: SCoP
// does not query other servers for profiles).
func (s *Service) Profile(ctx context.Context, userID string) (displayName, avatarURL string, err error) {
	local, ok := s.Localpart(userID)
	if !ok || !strings.HasPrefix(userID, "@") {
		return "", "", homeserver.Errorf(homeserver.ErrNotFound, "Profile not found")
	}
	u, err := s.store.User(ctx, local)
	if errors.Is(err, ErrNotFound) {
		return "", "", homeserver.Errorf(homeserver.ErrNotFound, "Profile not found")
	}
	if err != nil {
		return "", "", fmt.Errorf("load profile of %s: %w", userID, err)
	}
	return u.DisplayName, u.AvatarURL, nil
}

// SetDisplayName sets a local user's display name.
func (s *Service) SetDisplayName(ctx context.Context, userID, name string) error {
	return s.setProfile(ctx, userID, name, s.store.SetDisplayName)
}

// SetAvatarURL sets a local user's avatar URL.
func (s *Service) SetAvatarURL(ctx context.Context, userID, url string) error {
	return s.setProfile(ctx, userID, url, s.store.SetAvatarURL)
}

func (s *Service) setProfile(ctx context.Context, userID, v string, set func(context.Context, string, string) error) error {
	local, ok := s.Localpart(userID)
	if !ok {
		return homeserver.Errorf(homeserver.ErrNotFound, "Profile not found")
	}
	if len(v) > 1024 {
		return homeserver.Errorf(homeserver.ErrTooLarge, "Value is too long")
	}
	err := set(ctx, local, v)
	if errors.Is(err, ErrNotFound) {
		return homeserver.Errorf(homeserver.ErrNotFound, "Profile not found")
	}
	if err != nil {
		return fmt.Errorf("set profile of %s: %w", userID, err)
	}
	return nil
}

// randomToken returns 32 random bytes, URL-safe base64.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// randomID returns n random upper-case letters, the usual device ID shape.
func randomID(n int) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}
