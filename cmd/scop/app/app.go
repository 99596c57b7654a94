// Package app wires SCoP's components into one process: it opens the
// databases, builds the services in dependency order with explicit
// arguments, binds the listeners and shuts everything down in reverse.
package app

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"scop/clientapi"
	"scop/homeserver/accounts"
	"scop/homeserver/appservice"
	"scop/homeserver/push"
	"scop/homeserver/storage/sqlite"
	"scop/mailstack/receiver"
)

// App is one running scop process. The fields are filled in by New in
// dependency order; each area's init function lives in its own file
// (accounts.go, rooms.go).
type App struct {
	Log        *slog.Logger
	Config     Config
	ServerName string
	KeyID      string // "ed25519:..." of SigningKey
	SigningKey ed25519.PrivateKey
	DB         *sql.DB // the homeserver database (homeserver.db in the data folder)
	API        *clientapi.API

	// Set by initAccounts; used by initRooms for profiles and user checks.
	Accounts AccountsService
	// AppServices are the registered application services (from
	// app_services), for delivering their transactions.
	AppServices []accounts.AppService
	// AppServiceSvc pushes transactions to the application services and
	// answers their pings and queries (set by initAccounts).
	AppServiceSvc   *appservice.Service
	appServiceStore appservice.Store
	// Set by initRooms; told about profile changes. May stay nil.
	Rooms RoomsService
	// Push keeps pushers and posts notifications to Push Gateways.
	Push *push.Service
	// Mail is the SMTP receiver, when mail.enabled is set.
	Mail *receiver.Receiver

	// Registry holds every Prometheus collector of the process.
	Registry *prometheus.Registry
	// CommitBatchSize observes how many writes each group commit of the
	// room store carried.
	CommitBatchSize prometheus.Histogram

	closers []func(context.Context) error

	mu        sync.Mutex
	servers   []*http.Server
	addrs     Addrs
	serveErrs chan error
}

// RoomsService is what the accounts side needs from the rooms service.
type RoomsService interface {
	// UpdateProfile sends new m.room.member events with the user's new
	// display name and avatar into the rooms the user has joined.
	UpdateProfile(ctx context.Context, userID, displayName, avatarURL string) error
}

// Addrs are the bound listener addresses, as written to listen.json.
type Addrs struct {
	Client  string `json:"client"`
	Metrics string `json:"metrics,omitempty"`
	SMTP    string `json:"smtp,omitempty"`
}

// ListenFile is the file in the data folder that Start writes, by atomic
// rename, once every listener is bound.
const ListenFile = "listen.json"

// OnClose registers f to run at Close, after the listeners have stopped
// and before the database closes; closers run in reverse order of
// registration (a committer registered by initRooms flushes here).
func (a *App) OnClose(f func(context.Context) error) { a.closers = append(a.closers, f) }

// New opens the data folder of cfg and builds every service. It binds no
// sockets; Start does.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	a := &App{Log: log, Config: cfg, ServerName: cfg.ServerName, Registry: prometheus.NewRegistry()}
	a.CommitBatchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "scop", Subsystem: "storage", Name: "commit_batch_size",
		Help:    "Writes carried by each group commit.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
	})
	a.Registry.MustRegister(a.CommitBatchSize, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var err error
	if a.KeyID, a.SigningKey, err = loadOrCreateKey(filepath.Join(cfg.DataDir, "signing.key")); err != nil {
		return nil, err
	}
	if a.DB, err = sqlite.Open(filepath.Join(cfg.DataDir, "homeserver.db")); err != nil {
		return nil, err
	}
	a.OnClose(func(context.Context) error { return a.DB.Close() })
	if err := a.initAccounts(ctx); err != nil {
		a.Close(ctx)
		return nil, fmt.Errorf("accounts: %w", err)
	}
	if err := a.initMedia(ctx); err != nil {
		a.Close(ctx)
		return nil, fmt.Errorf("media: %w", err)
	}
	if err := a.initRooms(); err != nil {
		a.Close(ctx)
		return nil, fmt.Errorf("rooms: %w", err)
	}
	if err := a.initAppServices(ctx); err != nil {
		a.Close(ctx)
		return nil, err
	}
	if err := a.initPush(ctx); err != nil {
		a.Close(ctx)
		return nil, err
	}
	if err := a.initToDevice(ctx); err != nil {
		a.Close(ctx)
		return nil, err
	}
	if err := a.initMail(); err != nil {
		a.Close(ctx)
		return nil, err
	}
	if err := a.API.Metrics().Register(a.Registry); err != nil {
		a.Close(ctx)
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return a, nil
}

// Start binds the client API and metrics listeners, writes listen.json
// and serves in the background. Errors from serving arrive on Wait.
func (a *App) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.serveErrs = make(chan error, 2)
	// A listen.json left by an earlier run must not point at dead ports.
	os.Remove(filepath.Join(a.Config.DataDir, ListenFile))
	lc := net.ListenConfig{}
	cl, err := lc.Listen(ctx, "tcp", a.Config.ClientAPI.Listen)
	if err != nil {
		return fmt.Errorf("client_api.listen: %w", err)
	}
	a.addrs.Client = cl.Addr().String()
	var ml net.Listener
	if m := a.Config.Metrics.Listen; m != "" && m != "off" {
		if ml, err = lc.Listen(ctx, "tcp", m); err != nil {
			cl.Close()
			return fmt.Errorf("metrics.listen: %w", err)
		}
		a.addrs.Metrics = ml.Addr().String()
	}
	_, port, _ := net.SplitHostPort(a.Config.ClientAPI.Listen)
	if err := a.startMail(ctx, port == "0"); err != nil {
		cl.Close()
		if ml != nil {
			ml.Close()
		}
		return err
	}
	if err := a.startAppServices(ctx); err != nil {
		cl.Close()
		if ml != nil {
			ml.Close()
		}
		return err
	}
	if err := a.startPush(ctx); err != nil {
		cl.Close()
		if ml != nil {
			ml.Close()
		}
		return err
	}
	a.serve(cl, a.API, 0)
	if ml != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(a.Registry, promhttp.HandlerOpts{}))
		if a.Config.Metrics.Pprof {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		}
		a.serve(ml, mux, 0) // profiles take longer than any fixed write timeout
	}
	data, _ := json.Marshal(a.addrs)
	if err := writeFileAtomic(filepath.Join(a.Config.DataDir, ListenFile), data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", ListenFile, err)
	}
	a.Log.Info("serving", "client_api", a.addrs.Client, "metrics", a.addrs.Metrics, "smtp", a.addrs.SMTP, "server_name", a.ServerName)
	return nil
}

func (a *App) serve(l net.Listener, h http.Handler, writeTimeout time.Duration) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		WriteTimeout: writeTimeout, ErrorLog: slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn)}
	a.servers = append(a.servers, srv)
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.serveErrs <- err
		}
	}()
}

// Addrs returns the bound addresses (after Start).
func (a *App) Addrs() Addrs {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addrs
}

// Wait returns when ctx is done (nil) or a listener fails (its error).
func (a *App) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-a.serveErrs:
		return err
	}
}

// Close stops accepting requests, lets in-flight ones finish (parked
// /sync requests are told to return), then runs the closers in reverse
// and closes the database. ctx bounds the wait for in-flight requests.
func (a *App) Close(ctx context.Context) error {
	var errs []error
	if a.API != nil {
		a.API.BeginShutdown()
	}
	a.mu.Lock()
	servers := a.servers
	a.servers = nil
	a.mu.Unlock()
	var wg sync.WaitGroup
	var emu sync.Mutex
	for _, s := range servers {
		wg.Go(func() {
			if err := s.Shutdown(ctx); err != nil {
				emu.Lock()
				errs = append(errs, fmt.Errorf("shutdown: %w", err))
				emu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(servers) > 0 {
		os.Remove(filepath.Join(a.Config.DataDir, ListenFile))
	}
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	a.closers = nil
	return errors.Join(errs...)
}
