package kafka_test

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
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/kafka"
)

// produceOne connects with the options the runtime would use and produces
// one record: the authentication and encryption path end to end. A
// rejected client retries until within passes.
func produceOne(t *testing.T, cfg *config.Config, within time.Duration) error {
	t.Helper()
	opts, err := kafka.ClientOpts(cfg)
	if err != nil {
		return err
	}
	opts = append(opts, kgo.AllowAutoTopicCreation(), kgo.RequestRetries(1), kgo.RetryTimeout(3*time.Second))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: "secured", Value: []byte("x")}).FirstErr()
}

func TestSASLMechanisms(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(mech, "lifeline", "s3cret"), kfake.AllowAutoTopicCreation())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			cfg := config.Defaults()
			cfg.Brokers = c.ListenAddrs()
			cfg.SASL = config.SASL{Mechanism: mech, Username: "lifeline", Password: "s3cret"}
			if err := produceOne(t, &cfg, 10*time.Second); err != nil {
				t.Fatalf("%s with the right password: %v", mech, err)
			}
			cfg.SASL.Password = "wrong"
			if err := produceOne(t, &cfg, 2*time.Second); err == nil {
				t.Fatalf("%s with a wrong password was accepted", mech)
			}
		})
	}
}

func TestTLSWithCAFile(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfake"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Brokers = c.ListenAddrs()
	cfg.TLS = config.TLS{Enabled: true, CAFile: ca}
	if err := produceOne(t, &cfg, 10*time.Second); err != nil {
		t.Fatalf("TLS with the cluster's CA: %v", err)
	}
	// Without the CA the broker's certificate is not trusted.
	cfg.TLS.CAFile = ""
	if err := produceOne(t, &cfg, 2*time.Second); err == nil {
		t.Fatal("TLS without the CA trusted the self-signed broker")
	}
	// A CA file that is not PEM is a clear config error.
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.TLS.CAFile = ca
	if _, err := kafka.ClientOpts(&cfg); err == nil {
		t.Fatal("a CA file without PEM was accepted")
	}
}

// TestClientOptsLowerCaseSASL: the mechanism is matched as the config
// validates it, whatever its case.
func TestClientOptsLowerCaseSASL(t *testing.T) {
	c := config.Defaults()
	c.SASL = config.SASL{Mechanism: "scram-sha-256", Username: "u"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	opts, err := kafka.ClientOpts(&c)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if got := cl.OptValue(kgo.SASL); got == nil || len(got.([]sasl.Mechanism)) != 1 || got.([]sasl.Mechanism)[0].Name() != "SCRAM-SHA-256" {
		t.Errorf("SASL mechanisms %v, want SCRAM-SHA-256", got)
	}
}
