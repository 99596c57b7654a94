package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"scop/cmd/scop/app"
)

const userUsage = `usage: scop user add NAME [--admin] [--data DIR]
       scop user passwd NAME [--keep-devices] [--data DIR]

add creates the account @NAME:<server_name>; passwd sets a new password
and logs out every device (unless --keep-devices). The password is asked
for on the terminal, or read as the first line of standard input when that
is not a terminal. Both work whether or not the server is running.`

func runUser(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "add" && args[0] != "passwd" {
		return errors.New(userUsage)
	}
	cmd := args[0]
	fs := flag.NewFlagSet("user "+cmd, flag.ContinueOnError)
	data := dataFlag(fs)
	admin := fs.Bool("admin", false, "add: make the user a server admin")
	keep := fs.Bool("keep-devices", false, "passwd: leave the user's devices logged in")
	// Flags may come before or after the name.
	var names []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		names = append(names, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(names) != 1 {
		return errors.New(userUsage)
	}
	cfg, err := app.LoadConfig(*data)
	if err != nil {
		return err
	}
	password, err := readPassword(ctx, os.Stdin, os.Stderr)
	if err != nil {
		return err
	}
	var userID string
	if cmd == "add" {
		userID, err = app.AddUser(ctx, cfg, names[0], password, *admin)
	} else {
		userID, err = app.SetPassword(ctx, cfg, names[0], password, !*keep)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", cmd, names[0], err)
	}
	fmt.Println(userID)
	return nil
}

// readPassword prompts twice with echo off when in is a terminal, and
// otherwise reads the first line of in.
func readPassword(ctx context.Context, in *os.File, prompt io.Writer) (string, error) {
	fd := int(in.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		// Not a terminal: a script pipes the password in.
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return "", fmt.Errorf("turn off echo: %w", err)
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	// main catches SIGINT into ctx, which would leave the read blocked:
	// on Ctrl-C, put echo back and leave as the shell expects.
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			unix.IoctlSetTermios(fd, unix.TCSETS, old)
			fmt.Fprintln(prompt)
			os.Exit(130)
		case <-done:
		}
	}()
	r := bufio.NewReader(in)
	ask := func(p string) (string, error) {
		fmt.Fprint(prompt, p)
		line, err := r.ReadString('\n')
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	p1, err := ask("Password: ")
	if err != nil {
		return "", err
	}
	p2, err := ask("Repeat password: ")
	if err != nil {
		return "", err
	}
	if p1 != p2 {
		return "", errors.New("passwords do not match")
	}
	return p1, nil
}
