package cmdutil

import (
	"fmt"
	"strconv"

	"github.com/spf13/pflag"
)

// RSAKeyBitsVar declares the flag name holding the size of a generated RSA key in p: a multiple of 8, at
// least 1024, refused as the flag is parsed (Flux's rsaKeyBits flag type). p keeps its value as default.
func RSAKeyBitsVar(fs *pflag.FlagSet, p *int, name, usage string) {
	fs.Var(&rsaKeyBits{p}, name, usage)
}

type rsaKeyBits struct{ bits *int }

func (b *rsaKeyBits) String() string { return strconv.Itoa(*b.bits) }
func (b *rsaKeyBits) Type() string   { return "rsaKeyBits" }
func (b *rsaKeyBits) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1024 || n%8 != 0 {
		return fmt.Errorf("%q: want a multiple of 8, at least 1024", s)
	}
	*b.bits = n
	return nil
}
