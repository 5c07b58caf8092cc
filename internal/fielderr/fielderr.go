// Package fielderr is the error a configuration's Validate returns: the
// field at fault and what is wrong with it, apart. A command line or an
// environment reader maps the field to its own flag or variable without
// parsing the message.
package fielderr

import "fmt"

// Error is a field that cannot work. Its message is the field followed by
// Err, e.g. "timeout must be positive, e.g. 1s".
type Error struct {
	// Field names the setting at fault, as the package's constants spell it.
	Field string
	// Err says what is wrong with it and the fix, without naming it.
	Err error
}

func (e *Error) Error() string { return e.Field + " " + e.Err.Error() }

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// New returns an *Error for field with a message formatted as fmt.Errorf
// does (%w keeps a cause).
func New(field, format string, args ...any) error {
	return &Error{Field: field, Err: fmt.Errorf(format, args...)}
}
