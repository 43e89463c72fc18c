package tests

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestNATSCredsFile: a server in operator mode (an operator, one account
// with JetStream, a memory resolver) accepts the .creds file of a user of
// that account and refuses one of an unknown account.
func TestNATSCredsFile(t *testing.T) {
	t.Parallel()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	okp, err := nkeys.CreateOperator()
	must(err)
	opub, err := okp.PublicKey()
	must(err)
	oc := jwt.NewOperatorClaims(opub)
	ojwt, err := oc.Encode(okp)
	must(err)
	op, err := jwt.DecodeOperatorClaims(ojwt)
	must(err)

	account := func(js bool) (nkeys.KeyPair, string, string) {
		akp, err := nkeys.CreateAccount()
		must(err)
		apub, err := akp.PublicKey()
		must(err)
		ac := jwt.NewAccountClaims(apub)
		if js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		ajwt, err := ac.Encode(okp)
		must(err)
		return akp, apub, ajwt
	}
	credsFile := func(akp nkeys.KeyPair, name string) (string, string) {
		ukp, err := nkeys.CreateUser()
		must(err)
		upub, err := ukp.PublicKey()
		must(err)
		ujwt, err := jwt.NewUserClaims(upub).Encode(akp)
		must(err)
		seed, err := ukp.Seed()
		must(err)
		creds, err := jwt.FormatUserConfig(ujwt, seed)
		must(err)
		path := filepath.Join(t.TempDir(), name+".creds")
		must(os.WriteFile(path, creds, 0o600))
		return path, string(seed)
	}
	akp, apub, ajwt := account(true)
	_, syspub, sysjwt := account(false)
	unknown, _, _ := account(true) // never given to the server
	good, goodSeed := credsFile(akp, "good")
	bad, badSeed := credsFile(unknown, "bad")

	srv := testenv.NATSWith(t, func(o *server.Options) {
		res := &server.MemAccResolver{}
		must(res.Store(apub, ajwt))
		must(res.Store(syspub, sysjwt))
		o.SystemAccount = syspub
		o.TrustedOperators = []*jwt.OperatorClaims{op}
		o.AccountResolver = res
	})
	natsAccessCase(t, srv.ClientURL(), []nats.Option{nats.UserCredentials(good)},
		testenv.M{"creds": good}, testenv.M{"creds": bad}, goodSeed, badSeed)
}
