// Command htpasswd prints one htpasswd line, USER:BCRYPT-HASH, for the user named by its
// argument and the password read from standard input (its first line; a trailing newline is not
// part of the password), so the password never appears in a process listing.
//
//	printf '%s' "$password" | htpasswd [-cost N] USER >> htpasswd
//
// The registry compares every request's password against the hash, so tests use a low cost.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

func main() {
	cost := flag.Int("cost", bcrypt.DefaultCost, "bcrypt cost (4-31)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: htpasswd [-cost N] USER < password")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	user := flag.Arg(0)
	if user == "" || strings.ContainsAny(user, ":\r\n") {
		fmt.Fprintln(os.Stderr, "htpasswd: the user name must be non-empty and contain no ':' or newline")
		os.Exit(2)
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(os.Stderr, "htpasswd: no password on standard input")
		os.Exit(2)
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		fmt.Fprintln(os.Stderr, "htpasswd: the password must not be empty")
		os.Exit(2)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), *cost)
	if err != nil {
		fmt.Fprintln(os.Stderr, "htpasswd:", err)
		os.Exit(1)
	}
	fmt.Printf("%s:%s\n", user, hash)
}
