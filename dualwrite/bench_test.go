package dualwrite_test

import (
	"context"
	"testing"

	"github.com/redisha/redisha/dualwrite"
)

// BenchmarkOldPathSet measures a SET on the old deployment's client without
// and with the mirror hook: the difference is what dual-writing adds to the
// application's write path (the mirrored copy itself runs in the background).
func BenchmarkOldPathSet(b *testing.B) {
	for _, mirrored := range []bool{false, true} {
		name := "plain"
		if mirrored {
			name = "mirrored"
		}
		b.Run(name, func(b *testing.B) {
			oldC, newC, _ := pairTB(b)
			if mirrored {
				m, err := dualwrite.NewMirror(dualwrite.Options{Target: newC})
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close(context.Background())
				oldC.AddHook(m)
			}
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := oldC.Set(ctx, "bench", i, 0).Err(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
