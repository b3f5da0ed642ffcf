// Command golora fine-tunes transformers with LoRA and its family.
//
// Usage:
//
//	golora <command> [flags]
//
// Run "golora help" for the list of commands and "golora <command> --help"
// for a command's flags. Exit codes: 0 success, 1 a failure while running
// (bad files, I/O), 2 bad usage (unknown command or flag, invalid value).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand. run gets the arguments after the command name
// and returns an error; a usageError means exit code 2.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

// commands is filled by each command's file in its init function.
var commands = map[string]command{}

// usageError marks bad command-line usage (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// newFlagSet returns a FlagSet that reports errors instead of exiting, with
// a usage line for --help.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("golora "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: golora %s %s\n\nflags:\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs and turns flag errors into one-line usage
// errors; --help prints the usage and flags and returns flag.ErrHelp, which
// main treats as success.
func parseFlags(fs *flag.FlagSet, args []string) error {
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard) // the flag package would print usage on every error
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return err
	}
	if err == nil {
		err = checkFlagBounds(fs)
	}
	if err != nil {
		return usageError{fmt.Sprintf("%s: %v", strings.TrimPrefix(fs.Name(), "golora "), err)}
	}
	return nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "golora: unknown command %q (run 'golora help')\n", args[0])
		return 2
	}
	err := cmd.run(args[1:], stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "golora: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "golora: %v\n", err)
		return 1
	}
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "golora fine-tunes transformers with LoRA, in Go.")
	fmt.Fprintln(w, "\nusage: golora <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'golora <command> --help' for a command's flags.")
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
