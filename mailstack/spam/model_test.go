package spam

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTokenizerVersionClearsOldModel opens databases learnt by an older
// tokenizer: a pre-version database (migration 1 only) and one whose
// recorded version differs. Both come back empty at the current version;
// a current database keeps its counts.
func TestTokenizerVersionClearsOldModel(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		sql       []string
		wantEmpty bool
	}{
		{"current version kept", nil, false},
		{"older version emptied", []string{`UPDATE spam_meta SET tokenizer = 1`}, true},
		{"database from before versions emptied", []string{
			`DROP TABLE spam_meta`,
			`DELETE FROM schema_migrations WHERE set_name = 'spam' AND version = 2`,
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openDB(t)
			store, err := NewSQLiteStore(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			trainedFilter(t, store)
			for _, q := range tt.sql {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			store2, err := NewSQLiteStore(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			features := 0
			nham, nspam, err := store2.Load(ctx, func(uint64, uint32, uint32) { features++ })
			if err != nil {
				t.Fatal(err)
			}
			empty := nham == 0 && nspam == 0 && features == 0
			if empty != tt.wantEmpty {
				t.Errorf("after reopening: %d ham, %d spam, %d features; want empty %v", nham, nspam, features, tt.wantEmpty)
			}
			var v int
			if err := db.QueryRowContext(ctx, `SELECT tokenizer FROM spam_meta`).Scan(&v); err != nil || v != TokenizerVersion {
				t.Errorf("recorded tokenizer version %d (%v), want %d", v, err, TokenizerVersion)
			}
			// Learning goes on normally after the reset.
			f, err := New(ctx, store2, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Learn(ctx, []byte("Subject: hi\r\n\r\nhello there\r\n"), false); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// chi2QLog is the straightforward log-space sum, the reference for chi2Q.
func chi2QLog(x float64, v int) float64 {
	m := x / 2
	if m <= 0 {
		return 1
	}
	logM := math.Log(m)
	logTerm := -m
	logSum := logTerm
	for i := 1; i < v/2; i++ {
		logTerm += logM - math.Log(float64(i))
		if logTerm > logSum {
			logSum = logTerm + math.Log1p(math.Exp(logSum-logTerm))
		} else {
			logSum += math.Log1p(math.Exp(logTerm - logSum))
		}
	}
	return math.Min(math.Exp(logSum), 1)
}

func TestChi2QMatchesLogSpace(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 2000; i++ {
		v := 2 * (1 + r.IntN(5000))
		x := r.Float64() * 3 * float64(v)
		got, want := chi2Q(x, v), chi2QLog(x, v)
		if math.Abs(got-want) > 1e-9*math.Max(1, want) && math.Abs(got-want) > 1e-12 {
			t.Fatalf("chi2Q(%v, %d) = %v, log-space sum gives %v", x, v, got, want)
		}
	}
}

func TestESFMovesScoresTowardsMiddle(t *testing.T) {
	probs := []float64{0.99, 0.98, 0.95, 0.9, 0.2, 0.1, 0.97, 0.99, 0.85}
	full := fisher(probs, 1)
	damped := fisher(probs, 0.3)
	if !(full > damped && damped > 0.5) {
		t.Errorf("fisher esf 1 = %v, esf 0.3 = %v: want 1 > esf1 > esf0.3 > 0.5", full, damped)
	}
	if got := fisher(probs, 0); got != full {
		t.Errorf("esf 0 = %v, want the esf 1 score %v", got, full)
	}
}

func TestCaseVariantFeatures(t *testing.T) {
	lower, _ := Tokenize([]byte("\r\nfree offer"))
	cased, _ := Tokenize([]byte("\r\nFree offer"))
	shout, _ := Tokenize([]byte("\r\nFREE offer"))
	if len(cased) != len(lower)+1 || len(shout) != len(lower)+1 {
		t.Errorf("features: lower %d, capitalised %d, shouting %d; want one more for each cased word", len(lower), len(cased), len(shout))
	}
	common := 0
	for _, h := range cased {
		for _, g := range shout {
			if h == g {
				common++
			}
		}
	}
	if common != len(lower) {
		t.Errorf("Free and FREE share %d features, want the %d lower-case ones", common, len(lower))
	}
}

func TestSortHashes(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{0, 1, 255, 256, 1000, 7777} {
		a := make([]uint64, n)
		for i := range a {
			switch i % 3 {
			case 0:
				a[i] = r.Uint64()
			case 1:
				a[i] = uint64(r.IntN(50)) // small keys: high digits all equal
			default:
				a[i] = a[r.IntN(i+1)] // duplicates
			}
		}
		want := slices.Clone(a)
		slices.Sort(want)
		sortHashes(a)
		if !slices.Equal(a, want) {
			t.Errorf("n=%d: sortHashes differs from slices.Sort", n)
		}
	}
}
