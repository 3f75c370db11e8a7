// Interop checks of `logferry broker` with Go sarama (Debian's golang-github-shopify-sarama-dev,
// built offline in GOPATH mode). Usage: sarama-check ADDR VERSION TOPIC
// VERSION "default" keeps sarama's default protocol version (0.8.2: Produce v0, Fetch v0,
// ListOffsets v0, OffsetCommit v1); otherwise a Kafka version such as 2.1.0, which also runs
// the consumer-group checks (sarama's ConsumerGroup needs 0.10.2+): a member reads everything
// and commits, a restarted member resumes at the committed offsets, a second member triggers a
// rebalance that splits the partitions.
// Prints "PASS what" / "FAIL what" lines; exits 1 on any failure.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
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
	c.Producer.Partitioner = sarama.NewManualPartitioner
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
		// A restarted reader resumes at the committed offset: exactly what follows it.
		rest := consume(addr, config(version), topic, next, len(sent)-int(next))
		check(equal(rest, sent[next:]), "[%s] resumes at the committed offset (%d messages)", version, len(rest))
	} else {
		check(false, "offset manager: %v", err)
	}
	client.Close()

	// sarama refuses the admin requests below their Kafka versions itself (before sending
	// anything; DescribeConfigs needs 0.11): with the default version the admin runs at 0.11.0.
	ac := config(version)
	if version == "default" {
		ac.Version = sarama.V0_11_0_0
	}
	admin, err := sarama.NewClusterAdmin([]string{addr}, ac)
	if err != nil {
		check(false, "[%s] cluster admin: %v", version, err)
	} else {
		topics, err := admin.ListTopics()
		_, found := topics[topic]
		check(err == nil && found, "[%s] ClusterAdmin.ListTopics lists %s (%v)", version, topic, err)
		admin.Close()
	}
	if version != "default" {
		groups(addr, version, topic+"-group")
	}
	if failed {
		os.Exit(1)
	}
}

// member is a ConsumerGroupHandler that records what it read and which partitions it holds.
type member struct {
	mu      sync.Mutex
	values  []string
	claims  []int32
	claimed chan struct{}
}

func newMember() *member { return &member{claimed: make(chan struct{}, 16)} }

func (m *member) Setup(s sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	m.claims = nil
	for _, ps := range s.Claims() {
		m.claims = append(m.claims, ps...)
	}
	sort.Slice(m.claims, func(i, j int) bool { return m.claims[i] < m.claims[j] })
	m.mu.Unlock()
	m.claimed <- struct{}{}
	return nil
}
func (m *member) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (m *member) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for msg := range c.Messages() {
		m.mu.Lock()
		m.values = append(m.values, string(msg.Value))
		m.mu.Unlock()
		s.MarkMessage(msg, "")
	}
	return nil
}
func (m *member) got() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.values...)
}
func (m *member) held() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int32(nil), m.claims...)
}

// run starts m in group until ctx ends; returns a channel closed when it stopped.
func run(ctx context.Context, addr, version, group, topic string, m *member) (sarama.ConsumerGroup, chan struct{}) {
	c := config(version)
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.CommitInterval = 200 * time.Millisecond
	g, err := sarama.NewConsumerGroup([]string{addr}, group, c)
	done := make(chan struct{})
	if err != nil {
		check(false, "[%s] new consumer group: %v", version, err)
		close(done)
		return nil, done
	}
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{topic}, m); err != nil && ctx.Err() == nil {
				check(false, "[%s] consume: %v", version, err)
				return
			}
		}
	}()
	go func() {
		for e := range g.Errors() {
			fmt.Fprintln(os.Stderr, "group error:", e)
		}
	}()
	return g, done
}

// waitFor polls f until true or 30 s passed.
func waitFor(f func() bool) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if f() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func sameSet(a, b []string) bool {
	x := append([]string(nil), a...)
	y := append([]string(nil), b...)
	sort.Strings(x)
	sort.Strings(y)
	return equal(x, y)
}

func produceSpread(addr, version, topic, prefix string, n int) []string {
	c := config(version)
	c.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	p, err := sarama.NewSyncProducer([]string{addr}, c)
	if err != nil {
		check(false, "[%s] producer: %v", version, err)
		return nil
	}
	defer p.Close()
	var sent []string
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("%s-%05d", prefix, i)
		sent = append(sent, v)
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(v)}); err != nil {
			check(false, "[%s] produce: %v", version, err)
			return sent
		}
	}
	return sent
}

func groups(addr, version, topic string) {
	group := "sarama-group-" + version
	first := produceSpread(addr, version, topic, "g1", 300)
	// One member reads everything and commits (marked offsets, committed on close).
	a := newMember()
	ctx, cancel := context.WithCancel(context.Background())
	g, done := run(ctx, addr, version, group, topic, a)
	ok := waitFor(func() bool { return len(a.got()) >= len(first) })
	check(ok && sameSet(a.got(), first), "[%s] consumer group reads all %d (got %d)", version, len(first), len(a.got()))
	cancel()
	<-done
	if g != nil {
		g.Close()
	}

	// A restarted member resumes at the committed offsets: only the new messages.
	second := produceSpread(addr, version, topic, "g2", 90)
	a = newMember()
	ctx, cancel = context.WithCancel(context.Background())
	g, done = run(ctx, addr, version, group, topic, a)
	waitFor(func() bool { return len(a.got()) >= len(second) })
	time.Sleep(500 * time.Millisecond) // anything re-read would arrive now
	check(sameSet(a.got(), second), "[%s] restarted member resumes at the committed offsets (got %d, want %d)", version, len(a.got()), len(second))

	// A second member joins: the group rebalances and the partitions are split between them.
	b := newMember()
	ctx2, cancel2 := context.WithCancel(context.Background())
	g2, done2 := run(ctx2, addr, version, group, topic, b)
	split := waitFor(func() bool {
		ha, hb := a.held(), b.held()
		if len(ha) == 0 || len(hb) == 0 {
			return false
		}
		seen := map[int32]bool{}
		for _, p := range append(ha, hb...) {
			if seen[p] {
				return false
			}
			seen[p] = true
		}
		return len(seen) == 3
	})
	check(split, "[%s] rebalance splits the partitions between two members (%v / %v)", version, a.held(), b.held())
	third := produceSpread(addr, version, topic, "g3", 60)
	waitFor(func() bool { return len(a.got())+len(b.got()) >= len(second)+len(third) })
	both := append(a.got(), b.got()...)
	check(sameSet(both, append(append([]string(nil), second...), third...)),
		"[%s] after the rebalance every new message is read once (got %d)", version, len(both))
	cancel()
	cancel2()
	<-done
	<-done2
	if g != nil {
		g.Close()
	}
	if g2 != nil {
		g2.Close()
	}
}
