// Command ferretdb serves the MongoDB wire protocol on loopback for local development
// and tests, backed by SQLite files in a state folder.
//
// We embed FerretDB as a library (its public `ferretdb` package) instead of building its
// own command: the module proxy's copy of the command lacks a generated version file and
// refuses to start, while the embeddable package is meant for exactly this use.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // served only when -debug-addr is given
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to serve the MongoDB wire protocol on")
	sqliteURL := flag.String("sqlite-url", "file:data/", "SQLite URI of the directory holding one database file per MongoDB database")
	logLevel := flag.String("log-level", "error", "log level: debug, info, warn or error")
	debugAddr := flag.String("debug-addr", "", "loopback address to serve Go's pprof profiles on (off when empty)")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		log.Fatalf("bad -log-level: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	server, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: *sqliteURL,
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *debugAddr != "" {
		// Where the server's CPU goes under a benchmark: go tool pprof http://<addr>/debug/pprof/profile
		go func() { logger.Error("pprof stopped", "error", http.ListenAndServe(*debugAddr, nil)) }()
	}

	logger.Warn("serving MongoDB wire protocol", "uri", server.MongoDBURI())
	go indexIDsEvery(ctx, time.Second, *sqliteURL, logger)
	if err := server.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
