package app

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"scop/mailstack"
)

// Config is scop.yaml: one section per component. Keys missing from the
// file keep the defaults of DefaultConfig.
type Config struct {
	ServerName string          `yaml:"server_name"`
	ClientAPI  ClientAPIConfig `yaml:"client_api"`
	Accounts   AccountsConfig  `yaml:"accounts"`
	Rooms      RoomsConfig     `yaml:"rooms"`
	Media      MediaConfig     `yaml:"media"`
	Log        LogConfig       `yaml:"log"`
	Metrics    MetricsConfig   `yaml:"metrics"`
	// AppServices are application service registration files (bridges),
	// relative to the data folder.
	AppServices []string         `yaml:"app_services"`
	Mail        mailstack.Config `yaml:"mail"`

	// DataDir is the data folder the file was loaded from (not in the file).
	DataDir string `yaml:"-"`
}

// ClientAPIConfig is the client_api section.
type ClientAPIConfig struct {
	Listen        string             `yaml:"listen"`
	PublicBaseURL string             `yaml:"public_base_url"`
	MaxBodyBytes  int64              `yaml:"max_body_bytes"`
	Registration  RegistrationConfig `yaml:"registration"`
	RateLimits    RateLimitsConfig   `yaml:"rate_limits"`
}

// RegistrationConfig is client_api.registration.
type RegistrationConfig struct {
	Enabled bool   `yaml:"enabled"`
	Token   string `yaml:"token"`
}

// RateLimitsConfig is client_api.rate_limits.
type RateLimitsConfig struct {
	Enabled  bool      `yaml:"enabled"`
	Login    RateLimit `yaml:"login"`
	Register RateLimit `yaml:"register"`
	Send     RateLimit `yaml:"send"`
}

// RateLimit is a token bucket: PerSecond requests per second on average,
// Burst at once, per user (or client IP before login).
type RateLimit struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
}

// AccountsConfig is the accounts section.
type AccountsConfig struct {
	// BcryptCost is the password hashing work factor (4-31).
	BcryptCost int `yaml:"bcrypt_cost"`
}

// RoomsConfig is the rooms section.
type RoomsConfig struct {
	DefaultVersion string `yaml:"default_version"`
}

// MediaConfig is the media section: the content repository.
type MediaConfig struct {
	// MaxUploadBytes bounds one upload.
	MaxUploadBytes int64 `yaml:"max_upload_bytes"`
}

// LogConfig is the log section.
type LogConfig struct {
	Format string `yaml:"format"`
	Level  string `yaml:"level"`
}

// MetricsConfig is the metrics section.
type MetricsConfig struct {
	// Listen is the Prometheus listener's address, or "off".
	Listen string `yaml:"listen"`
	// Pprof also serves Go's profiler under /debug/pprof/ on that listener.
	Pprof bool `yaml:"pprof"`
}

// DefaultConfig is the configuration of a fresh data folder.
func DefaultConfig() Config {
	return Config{
		ServerName: "localhost",
		ClientAPI: ClientAPIConfig{
			Listen:       "127.0.0.1:8008",
			MaxBodyBytes: 1 << 20,
			RateLimits: RateLimitsConfig{
				Enabled:  true,
				Login:    RateLimit{PerSecond: 1, Burst: 10},
				Register: RateLimit{PerSecond: 1, Burst: 10},
				Send:     RateLimit{PerSecond: 10, Burst: 50},
			},
		},
		Accounts: AccountsConfig{BcryptCost: 10},
		Rooms:    RoomsConfig{DefaultVersion: "12"},
		Media:    MediaConfig{MaxUploadBytes: 50 << 20},
		Log:      LogConfig{Format: "text", Level: "info"},
		Metrics:  MetricsConfig{Listen: "127.0.0.1:9108"},
		Mail:     mailstack.DefaultConfig(),
	}
}

// sampleConfig is the commented scop.yaml written on first run; it must
// parse into DefaultConfig (a test checks).
const sampleConfig = `# SCoP configuration. Keys left out take the defaults shown here.

# The server name: the part after ":" in user IDs (@alice:localhost).
# It cannot change once users exist.
server_name: localhost

client_api:
  # Address of the Matrix Client-Server API (overridden by --listen / SCOP_LISTEN).
  listen: 127.0.0.1:8008
  # URL clients should use, for /.well-known/matrix/client; empty means
  # the scheme and host of each request.
  public_base_url: ""
  # Largest request body accepted, in bytes.
  max_body_bytes: 1048576
  registration:
    # Let anyone create an account through /register.
    enabled: false
    # When set, /register also requires this token (m.login.registration_token).
    token: ""
  rate_limits:
    enabled: true
    # Per client IP.
    login:
      per_second: 1
      burst: 10
    # Per client IP.
    register:
      per_second: 1
      burst: 10
    # Per user: message and state sends.
    send:
      per_second: 10
      burst: 50

accounts:
  # bcrypt work factor for password hashes (4-31); each step doubles login cost.
  bcrypt_cost: 10

rooms:
  # Version of new rooms: 10, 11 or 12.
  default_version: "12"

media:
  # Largest upload accepted, in bytes. Files live in the "media" folder here.
  max_upload_bytes: 52428800

log:
  # text or json.
  format: text
  # debug, info, warn or error.
  level: info

metrics:
  # Prometheus /metrics listener, or "off".
  listen: 127.0.0.1:9108
  # Also serve Go's profiler (/debug/pprof/) there; keep that listener private.
  pprof: false

# Application service registration files (bridges), relative to this folder:
# app_services:
#   - mailbridge.yaml

`

// ConfigFile is the name of the configuration file in the data folder.
const ConfigFile = "scop.yaml"

// LoadConfig reads <dataDir>/scop.yaml, writing the commented default file
// (and creating dataDir) first when there is none, and validates it.
func LoadConfig(dataDir string) (Config, error) {
	path := filepath.Join(dataDir, ConfigFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return Config{}, fmt.Errorf("create data folder: %w", err)
		}
		data = []byte(sampleConfig + mailstack.SampleConfig)
		if err := writeFileAtomic(path, data, 0o600); err != nil {
			return Config{}, fmt.Errorf("write default config: %w", err)
		}
	} else if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return Config{}, fmt.Errorf("data folder: %w", err)
	}
	cfg.DataDir = abs
	return cfg, nil
}

// ParseConfig parses and validates a scop.yaml body over DefaultConfig.
// Errors name the offending key.
func ParseConfig(data []byte) (Config, error) {
	cfg := DefaultConfig()
	if len(bytes.TrimSpace(data)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil {
			return Config{}, nameKeys(data, err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

var lineRE = regexp.MustCompile(`line (\d+): `)

// nameKeys rewrites yaml's "line N: problem" messages into "key.path
// (line N): problem", so that a type error names the key as the
// validation errors do.
func nameKeys(data []byte, err error) error {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return err
	}
	keys := map[int]string{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, prefix)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				name := k.Value
				if prefix != "" {
					name = prefix + "." + k.Value
				}
				keys[k.Line] = name
				if _, ok := keys[v.Line]; !ok {
					keys[v.Line] = name
				}
				walk(v, name)
			}
		}
	}
	walk(&root, "")
	msg := lineRE.ReplaceAllStringFunc(err.Error(), func(m string) string {
		n, _ := strconv.Atoi(lineRE.FindStringSubmatch(m)[1])
		if k, ok := keys[n]; ok {
			return k + " (line " + strconv.Itoa(n) + "): "
		}
		return m
	})
	msg = strings.ReplaceAll(msg, "yaml: unmarshal errors:\n  ", "")
	return errors.New(msg)
}

// Validate checks every value and names the key of the first bad one.
func (c *Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...))
	}
	if c.ServerName == "" {
		return bad("server_name", "must not be empty")
	}
	if strings.ContainsAny(c.ServerName, "@/ \t") || strings.Count(c.ServerName, ":") > 1 && !strings.HasPrefix(c.ServerName, "[") {
		return bad("server_name", "%q is not a host name with an optional port", c.ServerName)
	}
	if err := checkAddr(c.ClientAPI.Listen); err != nil {
		return bad("client_api.listen", "%v", err)
	}
	if c.ClientAPI.MaxBodyBytes < 1024 {
		return bad("client_api.max_body_bytes", "must be at least 1024, got %d", c.ClientAPI.MaxBodyBytes)
	}
	if c.ClientAPI.Registration.Token != "" && !c.ClientAPI.Registration.Enabled {
		return bad("client_api.registration.token", "is set but client_api.registration.enabled is false")
	}
	if c.ClientAPI.RateLimits.Enabled {
		for name, rl := range map[string]RateLimit{"login": c.ClientAPI.RateLimits.Login,
			"register": c.ClientAPI.RateLimits.Register, "send": c.ClientAPI.RateLimits.Send} {
			key := "client_api.rate_limits." + name
			if rl.PerSecond <= 0 {
				return bad(key+".per_second", "must be above 0, got %v", rl.PerSecond)
			}
			if rl.Burst < 1 {
				return bad(key+".burst", "must be at least 1, got %d", rl.Burst)
			}
		}
	}
	if c.Accounts.BcryptCost < 4 || c.Accounts.BcryptCost > 31 {
		return bad("accounts.bcrypt_cost", "must be between 4 and 31, got %d", c.Accounts.BcryptCost)
	}
	switch c.Rooms.DefaultVersion {
	case "10", "11", "12":
	default:
		return bad("rooms.default_version", "must be \"10\", \"11\" or \"12\", got %q", c.Rooms.DefaultVersion)
	}
	if c.Media.MaxUploadBytes < 1024 {
		return bad("media.max_upload_bytes", "must be at least 1024, got %d", c.Media.MaxUploadBytes)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return bad("log.format", "must be text or json, got %q", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Metrics.Listen != "off" && c.Metrics.Listen != "" {
		if err := checkAddr(c.Metrics.Listen); err != nil {
			return bad("metrics.listen", "%v (or \"off\")", err)
		}
	}
	for i, f := range c.AppServices {
		if f == "" {
			return bad(fmt.Sprintf("app_services[%d]", i), "must be a file name")
		}
	}
	if err := c.Mail.Validate(); err != nil {
		return err
	}
	return nil
}

func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has a bad port", addr)
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return fmt.Errorf("%q: host must be an IP address or localhost", addr)
	}
	return nil
}

// writeFileAtomic writes data to path through a temporary file and a
// rename, so readers never see a partial file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
