// Package support says which spec fields of the Flux kinds converge serves the engine reads, and which it
// does not support yet (with what happens then), and finds the unsupported fields an object uses, so
// that build, diff and apply warn about them and the agent says so in the object's conditions: an
// unsupported field is never ignored in silence. A test walks the API types and fails on a spec field
// listed in neither list.
//
// Not here: reading the fields (each engine package does); support only lists them and finds the
// unsupported ones in an object.
package support
