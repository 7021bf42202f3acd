// A small franz-go (github.com/twmb/franz-go) program used by klite's tests as a peer. test/helpers/go-peer.ts builds it
// once with `go build` into the peer cache (modules from the Go module proxy, pinned by go.mod and go.sum).
//
//	klite-go-peer group --bootstrap H:P --topic T --group G [--balancer cooperative-sticky|range|roundrobin|sticky]
//	                    [--client-id C] [--session-timeout-ms MS] [--instance-id I]
//	klite-go-peer produce --bootstrap H:P --topic T --count N [--compression none|gzip|snappy|lz4|zstd]
//
// produce sends N keyed records with an idempotent acks=all producer and prints "produced N".
// group is one consumer-group member until SIGTERM, then Close() (which leaves the group). With BlockRebalanceOnPoll,
// a rebalance waits until the records of the last poll are processed and committed. It prints the line protocol of
// test/helpers/group-members.ts: "assigned/revoked/lost <p,..>" from the rebalance callbacks, "r <partition>
// <offset> <key>" per record, "committed <p>:<offset>,.." after each synchronous commit, "commit-failed <error>"
// and "closed".
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "produce" {
		os.Exit(produce(os.Args[2:]))
	}
	if len(os.Args) < 2 || os.Args[1] != "group" {
		fmt.Fprintln(os.Stderr, "usage: klite-go-peer group --bootstrap H:P --topic T --group G [--balancer B] [--client-id C] [--session-timeout-ms MS] [--instance-id I]")
		os.Exit(2)
	}
	os.Exit(group(os.Args[2:]))
}

// out is shared by the poll loop and the rebalance callbacks (which run on the client's goroutines).
type out struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (o *out) line(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, format+"\n", args...)
	o.w.Flush()
}

func partitions(m map[string][]int32) string {
	var ps []int
	for _, tp := range m {
		for _, p := range tp {
			ps = append(ps, int(p))
		}
	}
	if len(ps) == 0 {
		return "-"
	}
	sort.Ints(ps)
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}

func balancer(name string) kgo.GroupBalancer {
	switch name {
	case "range":
		return kgo.RangeBalancer()
	case "roundrobin":
		return kgo.RoundRobinBalancer()
	case "sticky":
		return kgo.StickyBalancer()
	case "cooperative-sticky":
		return kgo.CooperativeStickyBalancer()
	}
	fmt.Fprintln(os.Stderr, "unknown balancer", name)
	os.Exit(2)
	return nil
}

func group(args []string) int {
	fs := flag.NewFlagSet("group", flag.ExitOnError)
	bootstrap := fs.String("bootstrap", "127.0.0.1:9092", "seed broker")
	topic := fs.String("topic", "", "topic to consume")
	groupID := fs.String("group", "", "consumer group")
	bal := fs.String("balancer", "cooperative-sticky", "group balancer (franz-go's default is cooperative-sticky)")
	clientID := fs.String("client-id", "klite-go-member", "client id")
	sessionMs := fs.Int("session-timeout-ms", 10000, "session timeout")
	instanceID := fs.String("instance-id", "", "group.instance.id (static membership)")
	fs.Parse(args)

	o := &out{w: bufio.NewWriterSize(os.Stdout, 1<<16)}
	opts := []kgo.Opt{
		kgo.SeedBrokers(*bootstrap),
		kgo.ClientID(*clientID),
		kgo.ConsumerGroup(*groupID),
		kgo.ConsumeTopics(*topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.Balancers(balancer(*bal)),
		kgo.SessionTimeout(time.Duration(*sessionMs) * time.Millisecond),
		kgo.HeartbeatInterval(500 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { o.line("assigned %s", partitions(m)) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { o.line("revoked %s", partitions(m)) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { o.line("lost %s", partitions(m)) }),
	}
	if *instanceID != "" {
		opts = append(opts, kgo.InstanceID(*instanceID))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "new client:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	for ctx.Err() == nil {
		fetches := cl.PollRecords(ctx, 250)
		fetches.EachError(func(t string, p int32, err error) {
			if err != context.Canceled {
				fmt.Fprintf(os.Stderr, "fetch error %s[%d]: %v\n", t, p, err)
			}
		})
		recs := fetches.Records()
		if len(recs) > 0 {
			next := map[int32]int64{}
			var b strings.Builder
			for _, r := range recs {
				fmt.Fprintf(&b, "r %d %d %s\n", r.Partition, r.Offset, r.Key)
				next[r.Partition] = r.Offset + 1
			}
			o.line("%s", strings.TrimSuffix(b.String(), "\n"))
			if err := cl.CommitRecords(context.Background(), recs...); err != nil {
				o.line("commit-failed %v", err)
			} else {
				var c []string
				for p, off := range next {
					c = append(c, fmt.Sprintf("%d:%d", p, off))
				}
				sort.Strings(c)
				o.line("committed %s", strings.Join(c, ","))
			}
		}
		cl.AllowRebalance()
	}
	cl.Close() // leaves the group (a static member does not)
	o.line("closed")
	return 0
}

func produce(args []string) int {
	fs := flag.NewFlagSet("produce", flag.ExitOnError)
	bootstrap := fs.String("bootstrap", "127.0.0.1:9092", "seed broker")
	topic := fs.String("topic", "", "topic to produce to")
	count := fs.Int("count", 100, "records")
	compression := fs.String("compression", "none", "none, gzip, snappy, lz4 or zstd")
	fs.Parse(args)
	codecs := map[string]kgo.CompressionCodec{"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression()}
	codec, ok := codecs[*compression]
	if !ok {
		fmt.Fprintln(os.Stderr, "unknown compression", *compression)
		return 2
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(*bootstrap), kgo.DefaultProduceTopic(*topic), kgo.ProducerBatchCompression(codec), kgo.AllowAutoTopicCreation())
	if err != nil {
		fmt.Fprintln(os.Stderr, "new client:", err)
		return 1
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	for i := 0; i < *count; i++ {
		wg.Add(1)
		r := &kgo.Record{Key: []byte("go-key-" + strconv.Itoa(i)), Value: []byte(strings.Repeat("v", i%100)), Headers: []kgo.RecordHeader{{Key: "src", Value: []byte("franz-go")}}}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if failed != nil {
		fmt.Fprintln(os.Stderr, "produce:", failed)
		return 1
	}
	fmt.Println("produced", *count)
	return 0
}
