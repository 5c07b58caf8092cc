package localaws

import "testing"

// Failures are taken in the order they were queued, then none.
func TestFailuresInOrder(t *testing.T) {
	var q Failures[string]
	q.Add("a", "b")
	q.Add("c")
	for _, want := range []string{"a", "b", "c"} {
		if got, ok := q.Next(); !ok || got != want {
			t.Fatalf("Next() = %q, %v; want %q", got, ok, want)
		}
	}
	if got, ok := q.Next(); ok {
		t.Fatalf("Next() on an empty queue = %q, true", got)
	}
}
