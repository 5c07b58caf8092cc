package dnslocal

import "testing"

// "If more than 18% of health checkers report that an endpoint is healthy,
// Route 53 considers it healthy. If 18% of health checkers or fewer report
// that an endpoint is healthy, Route 53 considers it unhealthy."
func TestHealthyShare(t *testing.T) {
	for _, tc := range []struct {
		healthy, checkers int
		want              bool
	}{
		{0, 3, false},
		{1, 3, true},   // 33%
		{1, 6, false},  // 16.7%
		{1, 5, true},   // 20%
		{9, 50, false}, // exactly 18%: "18% … or fewer"
		{10, 50, true}, // 20%
		{2, 11, true},  // 18.2%
		{16, 16, true},
	} {
		if got := healthyShare(tc.healthy, tc.checkers); got != tc.want {
			t.Errorf("%d of %d checkers healthy: %v, want %v", tc.healthy, tc.checkers, got, tc.want)
		}
	}
}
