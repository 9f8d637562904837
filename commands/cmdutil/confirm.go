package cmdutil

import (
	"bufio"
	"fmt"
	"strings"
)

// Confirm asks question on stderr with a [y/N] suffix and reads the answer from stdin: only y or yes
// (any case) confirms; anything else, or no input, does not.
func Confirm(io *IOStreams, question string) bool {
	fmt.Fprintf(io.ErrOut, "%s? [y/N] ", question)
	answer, _ := bufio.NewReader(io.In).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(answer))
	return a == "y" || a == "yes"
}
