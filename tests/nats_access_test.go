package tests

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"go.uber.org/zap/zapcore"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/dispatcher/config"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// natsAccessCase runs the service against srv twice: with good (the nats
// section's access keys) it becomes ready and calls the target for a
// published job; with bad it never becomes ready and logs its retries
// without any of secrets. client are the options of the test's own client.
func natsAccessCase(t *testing.T, url string, client []nats.Option, good, bad testenv.M, secrets ...string) {
	t.Helper()
	nc, err := nats.Connect(url, client...)
	if err != nil {
		t.Fatalf("test client: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	sink := testenv.NewSink(t)
	base := testenv.Merge(testenv.M{"security": testenv.M{"allow_private_networks": true}},
		testenv.Targets(testenv.M{"a": testenv.Target(sink.URL)}))
	cfgText := func(access testenv.M) string {
		return testenv.Config(url, base, testenv.M{"nats": access})
	}

	t.Run("right credentials", func(t *testing.T) {
		svc := testenv.RunService(t, cfgText(good))
		testenv.Publish(t, js, testenv.JobMsg("a", schemas.Job{ID: "access-1"}))
		testenv.Eventually(t, 15*time.Second, func() (bool, string) { return sink.Count() == 1, "waiting for the call" })
		noSecrets(t, svc.Logs.String(), secrets)
	})
	t.Run("wrong credentials", func(t *testing.T) {
		cfg, err := config.Parse([]byte(cfgText(bad)), os.LookupEnv)
		if err != nil {
			t.Fatalf("config: %v", err)
		}
		log, buf := testenv.NewLogger(zapcore.InfoLevel)
		ready := make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- dispatcher.Run(ctx, cfg, dispatcher.WithLogger(log), dispatcher.OnReady(func(*dispatcher.Service) { ready <- struct{}{} }))
		}()
		testenv.Eventually(t, 15*time.Second, func() (bool, string) {
			return strings.Contains(buf.String(), "NATS not reachable; retrying"), "waiting for a failed connect"
		})
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatal("service did not stop")
		}
		select {
		case <-ready:
			t.Error("service became ready with wrong credentials")
		default:
		}
		noSecrets(t, buf.String(), secrets)
	})
}

func noSecrets(t *testing.T, logs string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain a secret (%d chars):\n%s", len(s), logs)
		}
	}
}

func TestNATSUserPassword(t *testing.T) {
	t.Parallel()
	srv := testenv.NATSWith(t, func(o *server.Options) { o.Username, o.Password = "disp", "s3cret-pass-9f2" })
	natsAccessCase(t, srv.ClientURL(), []nats.Option{nats.UserInfo("disp", "s3cret-pass-9f2")},
		testenv.M{"user": "disp", "password": "s3cret-pass-9f2"},
		testenv.M{"user": "disp", "password": "wrong-pass-77a1"},
		"s3cret-pass-9f2", "wrong-pass-77a1")
}

func TestNATSToken(t *testing.T) {
	t.Parallel()
	srv := testenv.NATSWith(t, func(o *server.Options) { o.Authorization = "tok-4b1e-good" })
	natsAccessCase(t, srv.ClientURL(), []nats.Option{nats.Token("tok-4b1e-good")},
		testenv.M{"token": "tok-4b1e-good"},
		testenv.M{"token": "tok-8c2d-bad"},
		"tok-4b1e-good", "tok-8c2d-bad")
}

func TestNATSNKey(t *testing.T) {
	t.Parallel()
	seedFile := func(kp nkeys.KeyPair) (string, string) {
		seed, err := kp.Seed()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "user.nk")
		if err := os.WriteFile(path, seed, 0o600); err != nil {
			t.Fatal(err)
		}
		return path, string(seed)
	}
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	other, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := user.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	srv := testenv.NATSWith(t, func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: pub}} })
	goodPath, goodSeed := seedFile(user)
	badPath, badSeed := seedFile(other)
	opt, err := nats.NkeyOptionFromSeed(goodPath)
	if err != nil {
		t.Fatal(err)
	}
	natsAccessCase(t, srv.ClientURL(), []nats.Option{opt},
		testenv.M{"nkey": goodPath}, testenv.M{"nkey": badPath}, goodSeed, badSeed)
}

// pki is a test CA with a server certificate for 127.0.0.1 and client
// certificates, written as PEM files.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
	serial int64
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{dir: t.TempDir(), ca: ca, caKey: key, serial: 1}
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", der)
	return p
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue returns the cert and key files of a new leaf certificate.
func (p *pki) issue(t *testing.T, name string, usage x509.ExtKeyUsage) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "EC PRIVATE KEY", kder)
}

func TestNATSTLSClientCert(t *testing.T) {
	t.Parallel()
	ca := newPKI(t, "test CA")
	srvCert, srvKey := ca.issue(t, "server", x509.ExtKeyUsageServerAuth)
	cliCert, cliKey := ca.issue(t, "client", x509.ExtKeyUsageClientAuth)
	rogue := newPKI(t, "rogue CA")
	badCert, badKey := rogue.issue(t, "rogue-client", x509.ExtKeyUsageClientAuth)

	pair, err := tls.LoadX509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.ca)
	srv := testenv.NATSWith(t, func(o *server.Options) {
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
		o.TLSVerify = true
		o.TLSTimeout = 5
	})
	url := "tls://" + srv.Addr().String()
	natsAccessCase(t, url, []nats.Option{nats.RootCAs(ca.caFile), nats.ClientCert(cliCert, cliKey)},
		testenv.M{"tls": testenv.M{"ca": ca.caFile, "cert": cliCert, "key": cliKey}},
		testenv.M{"tls": testenv.M{"ca": ca.caFile, "cert": badCert, "key": badKey}})
}

// TestCLINATSAccessFlags: an operator command reaches a token-protected
// server with --token (and with DISPATCHER_TOKEN), fails with a wrong one,
// and prints neither token.
func TestCLINATSAccessFlags(t *testing.T) {
	t.Parallel()
	srv := testenv.NATSWith(t, func(o *server.Options) { o.Authorization = "cli-tok-good-51" })
	nc, err := nats.Connect(srv.ClientURL(), nats.Token("cli-tok-good-51"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	testenv.EnsureStreams(t, js)
	url := srv.ClientURL()
	if r := testenv.RunCLI(t, nil, nil, "dlq", "ls", "--nats-url", url, "--token", "cli-tok-good-51"); r.Code != 0 {
		t.Errorf("--token: %s", r)
	}
	if r := testenv.RunCLI(t, nil, []string{"DISPATCHER_TOKEN=cli-tok-good-51"}, "dlq", "ls", "--nats-url", url); r.Code != 0 {
		t.Errorf("DISPATCHER_TOKEN: %s", r)
	}
	r := testenv.RunCLI(t, nil, nil, "dlq", "ls", "--nats-url", url, "--token", "cli-tok-bad-77")
	if r.Code == 0 {
		t.Errorf("wrong token accepted: %s", r)
	}
	if out := r.Stdout + r.Stderr; strings.Contains(out, "cli-tok-bad-77") || strings.Contains(out, "cli-tok-good-51") {
		t.Errorf("output shows a token: %s", r)
	}
}
