package mailstack

// Config is the `mail:` section of scop.yaml: the SMTP receiver, its
// checks and its spool. The zero value is not useful; start from
// DefaultConfig. (Owned by the receiver; fields grow with it.)
type Config struct {
	// Enabled starts the receiver inside `scop serve`.
	Enabled bool `yaml:"enabled"`
	// Listen is the SMTP address, host:port.
	Listen string `yaml:"listen"`
}

// DefaultConfig is the receiver's development default.
func DefaultConfig() Config {
	return Config{Enabled: false, Listen: "127.0.0.1:2525"}
}

// SampleConfig is the commented `mail:` section written into a first-run
// scop.yaml. It must parse into DefaultConfig.
const SampleConfig = `# The SMTP receiver (also runnable alone: scop mail receive).
mail:
  # Start the receiver inside "scop serve".
  enabled: false
  # SMTP listen address; port 25 in production.
  listen: 127.0.0.1:2525
`
