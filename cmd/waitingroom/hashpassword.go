package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"
)

// defaultBcryptCost makes one password check take a few hundred
// milliseconds: nothing for an operator logging in, slow for anyone
// guessing (who is also rate-limited per address).
const defaultBcryptCost = 12

// maxPasswordBytes is bcrypt's limit: it ignores what comes after.
const maxPasswordBytes = 72

// hashPassword reads a password from standard input (one line) and prints
// its bcrypt hash, for admin.users[].password_hash. The password is never
// taken from the command line, where ps and shell history would keep it.
func hashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hash-password", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cost := fs.Int("cost", defaultBcryptCost, fmt.Sprintf("bcrypt cost, %d to %d; each step doubles the work of a check", bcrypt.MinCost, bcrypt.MaxCost))
	fs.Usage = func() {
		_, _ = io.WriteString(stderr, `usage: waitingroom hash-password [-cost N] < password-file

Reads one line (the password) from standard input and prints its bcrypt hash
for admin.users in the configuration file. Typed at a terminal the password
is visible; to hide it:

  read -rs -p 'Password: ' pw; echo; printf '%s\n' "$pw" | waitingroom hash-password; unset pw

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "waitingroom hash-password: the password is read from standard input, not from arguments (they show in ps and shell history)")
		return 2
	}
	if *cost < bcrypt.MinCost || *cost > bcrypt.MaxCost {
		fmt.Fprintf(stderr, "waitingroom hash-password: -cost %d: want %d to %d\n", *cost, bcrypt.MinCost, bcrypt.MaxCost)
		return 2
	}
	terminal := isTerminal(stdin)
	if terminal {
		fmt.Fprint(stderr, "Password (visible as you type; see -h to hide it): ")
	}
	password, err := readPassword(stdin)
	if err != nil {
		fmt.Fprintln(stderr, "waitingroom hash-password:", err)
		return 1
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), *cost)
	if err != nil {
		fmt.Fprintln(stderr, "waitingroom hash-password:", err)
		return 1
	}
	fmt.Fprintln(stdout, string(hash))
	if len(password) < 12 {
		fmt.Fprintln(stderr, "waitingroom hash-password: warning: the password is shorter than 12 characters")
	}
	if terminal {
		fmt.Fprintf(stderr, "Add it to the configuration:\n  admin:\n    users:\n      - {name: YOUR-NAME, password_hash: '%s'}\n", hash)
	}
	return 0
}

// readPassword reads the first line of r, without its line ending.
func readPassword(r io.Reader) (string, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, 4096), 4096)
	line, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case line == "":
		return "", errors.New("no password on standard input (an empty line or nothing)")
	case len(line) > maxPasswordBytes:
		return "", fmt.Errorf("the password is %d bytes; bcrypt uses at most %d", len(line), maxPasswordBytes)
	}
	return line, nil
}

// isTerminal tells whether r is an interactive terminal. A character
// device is not enough: /dev/null is one, and must not be prompted.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
