// Interop checks of `logferry broker` with Go sarama (Debian's golang-github-shopify-sarama-dev,
// built offline in GOPATH mode). Usage: sarama-check ADDR VERSION TOPIC
// VERSION "default" keeps sarama's default protocol version (0.8.2: Produce v0, Fetch v0,
// ListOffsets v0, OffsetCommit v1); otherwise a Kafka version such as 2.1.0.
// Prints "PASS what" / "FAIL what" lines; exits 1 on any failure.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/Shopify/sarama"
)

var failed bool

func check(ok bool, format string, args ...interface{}) {
	msg := fmt.Sprintf(format, args...)
	if ok {
		fmt.Println("PASS " + msg)
	} else {
		fmt.Println("FAIL " + msg)
		failed = true
	}
}

func config(version string) *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = "sarama-check"
	if version != "default" {
		v, err := sarama.ParseKafkaVersion(version)
		if err != nil {
			fmt.Println("FAIL parse version:", err)
			os.Exit(1)
		}
		c.Version = v
	}
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Consumer.Return.Errors = true
	return c
}

func produce(addr string, c *sarama.Config, topic string, prefix string, n int, codec sarama.CompressionCodec) []string {
	c.Producer.Compression = codec
	p, err := sarama.NewSyncProducer([]string{addr}, c)
	if err != nil {
		check(false, "%s: new producer: %v", prefix, err)
		return nil
	}
	defer p.Close()
	var sent []string
	msgs := make([]*sarama.ProducerMessage, 0, n)
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("%s-%05d", prefix, i)
		sent = append(sent, v)
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(v)})
	}
	err = p.SendMessages(msgs)
	check(err == nil, "%s: produce %d acks=all (%v)", prefix, n, codec)
	return sent
}

// consume reads partition 0 from `from` until `want` messages arrived (or 20 s passed).
func consume(addr string, c *sarama.Config, topic string, from int64, want int) []string {
	cons, err := sarama.NewConsumer([]string{addr}, c)
	if err != nil {
		check(false, "new consumer: %v", err)
		return nil
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, from)
	if err != nil {
		check(false, "consume partition: %v", err)
		return nil
	}
	defer pc.Close()
	var got []string
	deadline := time.After(20 * time.Second)
	for len(got) < want {
		select {
		case m := <-pc.Messages():
			got = append(got, string(m.Value))
		case e := <-pc.Errors():
			check(false, "consume: %v", e)
			return got
		case <-deadline:
			return got
		}
	}
	return got
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func main() {
	if len(os.Args) != 4 {
		fmt.Println("usage: sarama-check ADDR VERSION TOPIC")
		os.Exit(2)
	}
	addr, version, topic := os.Args[1], os.Args[2], os.Args[3]
	c := config(version)
	sent := produce(addr, c, topic, "plain", 300, sarama.CompressionNone)
	sent = append(sent, produce(addr, config(version), topic, "gzip", 100, sarama.CompressionGZIP)...)
	got := consume(addr, config(version), topic, sarama.OffsetOldest, len(sent))
	check(equal(got, sent), "[%s] consumer reads all %d in order (got %d)", version, len(sent), len(got))

	// Offsets through an offset manager (OffsetCommit v1 with default Retention = 0).
	client, err := sarama.NewClient([]string{addr}, config(version))
	if err != nil {
		check(false, "new client: %v", err)
		os.Exit(1)
	}
	om, err := sarama.NewOffsetManagerFromClient("sarama-om-"+version, client)
	if err == nil {
		pom, _ := om.ManagePartition(topic, 0)
		pom.MarkOffset(250, "meta")
		pom.Close()
		om.Close()
		om2, _ := sarama.NewOffsetManagerFromClient("sarama-om-"+version, client)
		pom2, _ := om2.ManagePartition(topic, 0)
		next, meta := pom2.NextOffset()
		check(next == 250 && meta == "meta", "[%s] committed offset read back (%d %q)", version, next, meta)
		pom2.Close()
		om2.Close()
	} else {
		check(false, "offset manager: %v", err)
	}
	client.Close()

	admin, err := sarama.NewClusterAdmin([]string{addr}, config(version))
	if err != nil {
		check(false, "[%s] cluster admin: %v", version, err)
	} else {
		topics, err := admin.ListTopics()
		_, found := topics[topic]
		check(err == nil && found, "[%s] ClusterAdmin.ListTopics lists %s (%v)", version, topic, err)
		admin.Close()
	}
	if failed {
		os.Exit(1)
	}
}
