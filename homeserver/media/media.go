// Package media is SCoP's content repository: files uploaded by users,
// kept on disk under the data folder with their metadata in SQLite, and
// named by mxc://<server>/<media ID> URIs.
package media

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"

	"scop/homeserver"
	"scop/homeserver/storage/sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Item is a stored upload's metadata.
type Item struct {
	MediaID     string
	ContentType string
	Filename    string
	Size        int64
	SHA256      string
	UserID      string
	CreatedTS   int64
}

// Store keeps uploads in dir (files) and db (metadata).
type Store struct {
	db         *sql.DB
	dir        string
	serverName string
	maxSize    int64
}

// New migrates the media tables of db and returns a store writing files
// under dir. maxSize bounds one upload (bytes).
func New(ctx context.Context, db *sql.DB, dir, serverName string, maxSize int64) (*Store, error) {
	if err := sqlite.Migrate(ctx, db, "media", migrations, "migrations"); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("media folder: %w", err)
	}
	return &Store{db: db, dir: dir, serverName: serverName, maxSize: maxSize}, nil
}

// MaxSize is the largest upload accepted.
func (s *Store) MaxSize() int64 { return s.maxSize }

// ServerName is the server part of this store's mxc URIs.
func (s *Store) ServerName() string { return s.serverName }

// validID reports whether id can be a media ID: the spec's unreserved
// characters, which also keeps it safe as a file name.
func validID(id string) bool {
	if id == "" || len(id) > 255 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (s *Store) path(id string) string { return filepath.Join(s.dir, id[:2], id) }

// Upload stores r (at most MaxSize bytes) and returns its mxc URI. The
// file is fsync'd and renamed into place and the metadata committed
// before it returns.
func (s *Store) Upload(ctx context.Context, userID, contentType, filename string, r io.Reader) (string, error) {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	if _, _, err := mime.ParseMediaType(contentType); err != nil {
		return "", homeserver.Errorf(homeserver.ErrInvalidParam, "Content-Type %q is not a media type", contentType)
	}
	if len(filename) > 255 || strings.ContainsAny(filename, "/\\\x00") {
		return "", homeserver.Errorf(homeserver.ErrInvalidParam, "Bad filename")
	}
	b := make([]byte, 18)
	rand.Read(b)
	id := base64.RawURLEncoding.EncodeToString(b)
	if err := os.MkdirAll(filepath.Dir(s.path(id)), 0o700); err != nil {
		return "", fmt.Errorf("media folder: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path(id)), ".upload-*")
	if err != nil {
		return "", fmt.Errorf("create upload: %w", err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, s.maxSize+1))
	if err != nil {
		tmp.Close()
		return "", err // the caller maps a body-limit error
	}
	if n > s.maxSize {
		tmp.Close()
		return "", &homeserver.Error{Code: homeserver.ErrTooLarge, Message: "Upload is too large", Status: 413}
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("sync upload: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("close upload: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path(id)); err != nil {
		return "", fmt.Errorf("store upload: %w", err)
	}
	if d, err := os.Open(filepath.Dir(s.path(id))); err == nil {
		d.Sync() // make the rename durable
		d.Close()
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO media(media_id, content_type, filename, size, sha256, user_id, created_ts)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, id, contentType, filename, n, hex.EncodeToString(h.Sum(nil)), userID, time.Now().UnixMilli()); err != nil {
		os.Remove(s.path(id))
		return "", fmt.Errorf("record upload: %w", err)
	}
	return "mxc://" + s.serverName + "/" + id, nil
}

// Open returns a local upload's metadata and content, or M_NOT_FOUND
// (also for other servers' media: SCoP does not fetch remote media).
func (s *Store) Open(ctx context.Context, serverName, id string) (Item, *os.File, error) {
	notFound := homeserver.Errorf(homeserver.ErrNotFound, "Media not found")
	if serverName != s.serverName || !validID(id) || len(id) < 2 {
		return Item{}, nil, notFound
	}
	it := Item{MediaID: id}
	err := s.db.QueryRowContext(ctx, `SELECT content_type, filename, size, sha256, user_id, created_ts FROM media WHERE media_id = ?`, id).
		Scan(&it.ContentType, &it.Filename, &it.Size, &it.SHA256, &it.UserID, &it.CreatedTS)
	if errors.Is(err, sql.ErrNoRows) {
		return Item{}, nil, notFound
	}
	if err != nil {
		return Item{}, nil, fmt.Errorf("load media %s: %w", id, err)
	}
	f, err := os.Open(s.path(id))
	if errors.Is(err, os.ErrNotExist) {
		return Item{}, nil, notFound
	}
	if err != nil {
		return Item{}, nil, fmt.Errorf("open media %s: %w", id, err)
	}
	return it, f, nil
}
