// A small CLI around the real Apache Kafka Java client (kafka-clients), used by klite's tests as a peer.
// test/helpers/java-peer.ts fetches the dependencies with Maven (pom.xml next to this file) and compiles it with javac.
//
//   create-topic --bootstrap H:P --topic T --partitions P
//   produce      --bootstrap H:P --topic T --count N --partitions P [--compression none|gzip|snappy|lz4|zstd] [--acks all|1]
//   consume      --bootstrap H:P --topic T --count N --partitions P [--timeout-ms MS]
//   stream       --bootstrap H:P --topic T --acked-file F [--interval-ms MS]
//   dump         --bootstrap H:P --topic T --partitions P [--timeout-ms MS]
//   group        --bootstrap H:P --topic T --group G [--assignor range|roundrobin|sticky|cooperative-sticky]
//                [--instance-id I] [--session-timeout-ms MS] [--max-poll-records N] [--client-id C]
//   admin        --bootstrap H:P --action list|describe|offsets|delete|delete-offsets --group G [--topic T --partition P]
//   admin        --bootstrap H:P --action describe-configs|alter-configs --type topic|broker|broker-default [--name N] [--keys k,k]
//                [--set k=v;k=v --delete k,k --append k=v --subtract k=v]
//   admin        --bootstrap H:P --action delete-records|list-offsets|describe-producers|log-dirs --topic T --partition P
//                [--offset O] [--spec earliest|latest|earliest-local|latest-tiered|max-timestamp]
//
// produce/consume share one deterministic record model: record i goes to partition i % P with key "k-<i>", the value
// value(i), headers "idx" = i (text) and "h2" = h2(i) (null on some records, empty on others), and the timestamp
// BASE_TS + i. On a fresh topic, record i therefore sits at offset i / P of partition i % P, and consume checks every
// record against that, exactly. Any mismatch, duplicate, gap or timeout exits 1 with a message on stderr.
//
// stream is the crash test's producer: an acks=all idempotent producer sending unique keys "s-<n>" until SIGTERM, then
// flush + close; each acknowledged record is appended as "key partition offset" to the acked file, failed ones never.
//
// dump reads every partition from its beginning to the end offset it had when dump started and prints one line per
// record, "partition offset key value" (UTF-8; "<null>" for a null key or value), for tests of retention and
// compaction. A consumer error, or offsets that do not increase, exit 1.
//
// group is one member of a consumer group, subscribed to one topic, until SIGTERM (then close(): a dynamic member
// leaves the group, a static one does not). It prints the line protocol that test/helpers/group-members.ts reads:
//   assigned <p,p,..|->   partitions given to this member (all of them with eager assignors, the added ones with
//                         cooperative-sticky), followed by "generation <id> <member id>"
//   revoked <p,..|->      lost <p,..|->      (the rebalance listener's other two callbacks)
//   r <partition> <offset> <key>             one line per record processed
//   committed <p>:<next offset>,..           after each acknowledged commitSync (after every poll with records)
//   commit-failed <exception>                a commit the coordinator refused (the records will come again)
//   closed                                   after a clean close
// admin drives the AdminClient's group, config, DeleteRecords, ListOffsets, DescribeProducers and DescribeLogDirs
// APIs and prints one line per result (see admin()); a refusal is printed as "error <action> <exception>: <message>".

import java.io.BufferedWriter;
import java.io.FileWriter;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.DeletedRecords;
import org.apache.kafka.clients.admin.DescribeConfigsOptions;
import org.apache.kafka.clients.admin.DescribeProducersResult;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class KliteJavaClient {
    static final long BASE_TS = 1_700_000_000_000L;

    public static void main(String[] argv) throws Exception {
        // Quiet client logging unless asked (KLITE_JAVA_LOG=info|debug|...).
        String level = System.getenv("KLITE_JAVA_LOG");
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", level == null || level.isEmpty() ? "warn" : level);
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        if (argv.length == 0) usage("missing subcommand");
        Map<String, String> a = parse(Arrays.copyOfRange(argv, 1, argv.length));
        int code;
        switch (argv[0]) {
            case "create-topic": code = createTopic(a); break;
            case "produce": code = produce(a); break;
            case "consume": code = consume(a); break;
            case "stream": code = stream(a); break;
            case "dump": code = dump(a); break;
            case "group": code = group(a); break;
            case "admin": code = admin(a); break;
            default: usage("unknown subcommand " + argv[0]); return;
        }
        System.out.flush();
        System.err.flush();
        System.exit(code);
    }

    // ----------------------------------------------------------------------------------------------------------
    // The deterministic record model

    static String key(long i) {
        return "k-" + i;
    }

    /** 100..499 bytes: a repeated text prefix (compressible) interleaved with xorshift bytes (not). */
    static byte[] value(long i) {
        int len = 100 + (int) ((i * 7919L) % 400L);
        byte[] b = new byte[len];
        byte[] text = ("value-" + i + "|").getBytes(StandardCharsets.US_ASCII);
        long x = i * 0x9E3779B97F4A7C15L + 0x632BE59BD9B4E019L;
        for (int j = 0; j < len; j++) {
            if (j % 4 == 3) {
                x ^= x << 13;
                x ^= x >>> 7;
                x ^= x << 17;
                b[j] = (byte) x;
            } else {
                b[j] = text[j % text.length];
            }
        }
        return b;
    }

    /** Header "h2": null on every 5th record, otherwise i % 13 bytes (so sometimes empty). */
    static byte[] h2(long i) {
        if (i % 5 == 0) return null;
        byte[] b = new byte[(int) (i % 13)];
        for (int j = 0; j < b.length; j++) b[j] = (byte) (i + j * 3);
        return b;
    }

    static ProducerRecord<byte[], byte[]> record(String topic, long i, int partitions) {
        List<Header> headers = new ArrayList<>();
        headers.add(new RecordHeader("idx", Long.toString(i).getBytes(StandardCharsets.UTF_8)));
        headers.add(new RecordHeader("h2", h2(i)));
        return new ProducerRecord<>(topic, (int) (i % partitions), BASE_TS + i, key(i).getBytes(StandardCharsets.UTF_8), value(i), headers);
    }

    // ----------------------------------------------------------------------------------------------------------
    // create-topic

    static int createTopic(Map<String, String> a) throws Exception {
        String topic = req(a, "topic");
        int partitions = Integer.parseInt(req(a, "partitions"));
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, req(a, "bootstrap"));
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "klite-java-admin");
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "20000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        try (Admin admin = Admin.create(p)) {
            admin.createTopics(Collections.singletonList(new NewTopic(topic, partitions, (short) 1))).all().get(30, TimeUnit.SECONDS);
            int got = admin.describeTopics(Collections.singletonList(topic)).allTopicNames().get(30, TimeUnit.SECONDS).get(topic).partitions().size();
            if (got != partitions) {
                System.err.println("create-topic: " + topic + " has " + got + " partitions, expected " + partitions);
                return 1;
            }
        }
        System.out.println("created topic " + topic + " with " + partitions + " partitions");
        return 0;
    }

    // ----------------------------------------------------------------------------------------------------------
    // produce

    static int produce(Map<String, String> a) throws Exception {
        String topic = req(a, "topic");
        long count = Long.parseLong(req(a, "count"));
        int partitions = Integer.parseInt(req(a, "partitions"));
        String compression = a.getOrDefault("compression", "none");
        String acks = a.getOrDefault("acks", "all");
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, req(a, "bootstrap"));
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "klite-java-producer");
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, compression);
        p.put(ProducerConfig.ACKS_CONFIG, acks);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        // enable.idempotence is left at its default (true for acks=all).

        AtomicLong acked = new AtomicLong();
        AtomicLong failed = new AtomicLong();
        AtomicReference<String> firstError = new AtomicReference<>();
        long t0 = System.nanoTime();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            for (long i = 0; i < count; i++) {
                final long idx = i;
                producer.send(record(topic, i, partitions), (RecordMetadata md, Exception e) -> {
                    if (e != null) {
                        failed.incrementAndGet();
                        firstError.compareAndSet(null, "record " + idx + ": " + e);
                        return;
                    }
                    long wantOffset = idx / partitions;
                    int wantPartition = (int) (idx % partitions);
                    if (md.partition() != wantPartition || md.offset() != wantOffset) {
                        failed.incrementAndGet();
                        firstError.compareAndSet(null, "record " + idx + " acknowledged at " + md.partition() + "@" + md.offset() + ", expected " + wantPartition + "@" + wantOffset);
                        return;
                    }
                    acked.incrementAndGet();
                });
            }
            producer.flush();
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        if (failed.get() > 0 || acked.get() != count) {
            System.err.println("produce: " + failed.get() + " of " + count + " records failed (" + acked.get() + " acknowledged); first: " + firstError.get());
            return 1;
        }
        System.out.println("produced " + count + " records to " + topic + " (" + partitions + " partitions, compression " + compression + ", acks " + acks + ") in " + ms + " ms");
        return 0;
    }

    // ----------------------------------------------------------------------------------------------------------
    // consume

    /** A consumer of byte arrays: no auto commit, earliest on a reset (no group unless the caller adds one). */
    static Properties consumerProperties(Map<String, String> a, String clientId) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, req(a, "bootstrap"));
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        return p;
    }

    static int consume(Map<String, String> a) {
        String topic = req(a, "topic");
        long count = Long.parseLong(req(a, "count"));
        int partitions = Integer.parseInt(req(a, "partitions"));
        long timeoutMs = Long.parseLong(a.getOrDefault("timeout-ms", "120000"));
        Properties p = consumerProperties(a, "klite-java-consumer");

        // Expected end offset of each partition: how many of records 0..count-1 go there.
        long[] wantEnd = new long[partitions];
        for (int q = 0; q < partitions; q++) wantEnd[q] = count / partitions + (q < count % partitions ? 1 : 0);
        long[] next = new long[partitions];
        long seen = 0;
        long t0 = System.nanoTime();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int q = 0; q < partitions; q++) tps.add(new TopicPartition(topic, q));
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            long deadline = System.currentTimeMillis() + timeoutMs;
            while (seen < count) {
                if (System.currentTimeMillis() > deadline) {
                    return fail("consume: timed out after " + timeoutMs + " ms with " + seen + " of " + count + " records; next offsets " + Arrays.toString(next));
                }
                ConsumerRecords<byte[], byte[]> recs = consumer.poll(Duration.ofMillis(500));
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    String err = check(r, topic, partitions, count, next);
                    if (err != null) return fail("consume: " + err);
                    next[r.partition()]++;
                    seen++;
                }
            }
            Map<TopicPartition, Long> ends = consumer.endOffsets(tps, Duration.ofSeconds(30));
            for (int q = 0; q < partitions; q++) {
                long end = ends.get(tps.get(q));
                if (end != wantEnd[q]) return fail("consume: partition " + q + " ends at offset " + end + ", expected " + wantEnd[q] + " (duplicates or extra records)");
                if (next[q] != wantEnd[q]) return fail("consume: read " + next[q] + " records of partition " + q + ", expected " + wantEnd[q]);
            }
            // Nothing more may arrive after the last expected record.
            ConsumerRecords<byte[], byte[]> extra = consumer.poll(Duration.ofMillis(300));
            if (!extra.isEmpty()) {
                ConsumerRecord<byte[], byte[]> r = extra.iterator().next();
                return fail("consume: unexpected extra record at " + r.partition() + "@" + r.offset());
            }
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("consumed and verified " + seen + " records from " + topic + " (" + partitions + " partitions) in " + ms + " ms");
        return 0;
    }

    /** Null when r is exactly what produce sent at its position, else what is wrong. */
    static String check(ConsumerRecord<byte[], byte[]> r, String topic, int partitions, long count, long[] next) {
        String at = r.topic() + "/" + r.partition() + "@" + r.offset();
        if (!r.topic().equals(topic)) return "record from unexpected topic at " + at;
        if (r.partition() < 0 || r.partition() >= partitions) return "record from unexpected partition at " + at;
        if (r.offset() < next[r.partition()]) return "duplicate: offset " + r.offset() + " of partition " + r.partition() + " delivered again (expected " + next[r.partition()] + ")";
        if (r.offset() != next[r.partition()]) return "gap: got offset " + r.offset() + " of partition " + r.partition() + ", expected " + next[r.partition()];
        long i = r.offset() * partitions + r.partition();
        if (i >= count) return "unexpected record " + i + " at " + at + " (only " + count + " were produced)";
        String k = r.key() == null ? null : new String(r.key(), StandardCharsets.UTF_8);
        if (!key(i).equals(k)) return "key at " + at + " is " + k + ", expected " + key(i);
        byte[] v = value(i);
        if (!Arrays.equals(v, r.value())) {
            return "value at " + at + " differs: " + (r.value() == null ? "null" : r.value().length + " bytes") + ", expected " + v.length + " bytes";
        }
        if (r.timestamp() != BASE_TS + i) return "timestamp at " + at + " is " + r.timestamp() + ", expected " + (BASE_TS + i);
        if (r.timestampType() != TimestampType.CREATE_TIME) return "timestamp type at " + at + " is " + r.timestampType();
        Header[] hs = r.headers().toArray();
        if (hs.length != 2) return "record at " + at + " has " + hs.length + " headers, expected 2";
        if (!"idx".equals(hs[0].key()) || !Arrays.equals(Long.toString(i).getBytes(StandardCharsets.UTF_8), hs[0].value())) {
            return "header 0 at " + at + " is " + hs[0].key() + "=" + (hs[0].value() == null ? "null" : new String(hs[0].value(), StandardCharsets.UTF_8)) + ", expected idx=" + i;
        }
        byte[] want2 = h2(i);
        if (!"h2".equals(hs[1].key())) return "header 1 at " + at + " is named " + hs[1].key() + ", expected h2";
        if (want2 == null ? hs[1].value() != null : !Arrays.equals(want2, hs[1].value())) {
            return "header h2 at " + at + " is " + (hs[1].value() == null ? "null" : Arrays.toString(hs[1].value())) + ", expected " + (want2 == null ? "null" : Arrays.toString(want2));
        }
        return null;
    }

    // ----------------------------------------------------------------------------------------------------------
    // stream (crash test)

    static int stream(Map<String, String> a) throws Exception {
        String topic = req(a, "topic");
        String ackedFile = req(a, "acked-file");
        long intervalMs = Long.parseLong(a.getOrDefault("interval-ms", "3"));
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, req(a, "bootstrap"));
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "klite-java-streamer");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "5");
        p.put(ProducerConfig.RETRIES_CONFIG, Integer.toString(Integer.MAX_VALUE));
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "180000");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "60000");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "2");
        p.put(ProducerConfig.RETRY_BACKOFF_MS_CONFIG, "50");
        p.put(ProducerConfig.RECONNECT_BACKOFF_MS_CONFIG, "50");
        p.put(ProducerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());

        AtomicBoolean stop = new AtomicBoolean(false);
        CountDownLatch done = new CountDownLatch(1);
        // SIGTERM: stop sending; main() then flushes and closes, and exits 0 on its own.
        sun.misc.Signal.handle(new sun.misc.Signal("TERM"), sig -> stop.set(true));
        sun.misc.Signal.handle(new sun.misc.Signal("INT"), sig -> stop.set(true));

        AtomicLong sent = new AtomicLong();
        AtomicLong acked = new AtomicLong();
        AtomicLong failed = new AtomicLong();
        BufferedWriter out = new BufferedWriter(new FileWriter(ackedFile, StandardCharsets.UTF_8, true), 1 << 16);
        Object lock = new Object();
        Thread flusher = new Thread(() -> {
            long ticks = 0;
            while (done.getCount() > 0) {
                try {
                    done.await(100, TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    return;
                }
                synchronized (lock) {
                    try {
                        out.flush();
                    } catch (IOException e) {
                        System.err.println("stream: flushing " + ackedFile + ": " + e);
                    }
                }
                if (++ticks % 10 == 0) System.out.println("stream: sent " + sent.get() + " acked " + acked.get() + " failed " + failed.get());
            }
        }, "acked-file-flusher");
        flusher.setDaemon(true);
        flusher.start();

        long t0 = System.nanoTime();
        KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p);
        long n = 0;
        while (!stop.get()) {
            final String k = "s-" + n;
            try {
                producer.send(new ProducerRecord<>(topic, k.getBytes(StandardCharsets.UTF_8), value(n)), (RecordMetadata md, Exception e) -> {
                    if (e != null) {
                        long f = failed.incrementAndGet();
                        if (f <= 20) System.err.println("stream: send of " + k + " failed: " + e);
                        return;
                    }
                    synchronized (lock) {
                        try {
                            out.write(k + " " + md.partition() + " " + md.offset() + "\n");
                        } catch (IOException io) {
                            System.err.println("stream: writing " + ackedFile + ": " + io);
                        }
                    }
                    acked.incrementAndGet();
                });
                sent.incrementAndGet();
            } catch (Exception e) {
                long f = failed.incrementAndGet();
                if (f <= 20) System.err.println("stream: send of " + k + " threw: " + e);
            }
            n++;
            if (intervalMs > 0) Thread.sleep(intervalMs);
        }
        System.out.println("stream: stopping after " + sent.get() + " sends; flushing");
        producer.flush();
        producer.close(Duration.ofSeconds(60));
        done.countDown();
        flusher.join();
        synchronized (lock) {
            out.flush();
            out.close();
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("stream: done: sent " + sent.get() + " acked " + acked.get() + " failed " + failed.get() + " in " + ms + " ms");
        return 0;
    }

    // ----------------------------------------------------------------------------------------------------------
    // dump (retention and compaction tests)

    static String text(byte[] b) {
        return b == null ? "<null>" : new String(b, StandardCharsets.UTF_8);
    }

    static int dump(Map<String, String> a) {
        String topic = req(a, "topic");
        int partitions = Integer.parseInt(req(a, "partitions"));
        long timeoutMs = Long.parseLong(a.getOrDefault("timeout-ms", "120000"));
        Properties p = consumerProperties(a, "klite-java-dump");
        StringBuilder out = new StringBuilder();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int q = 0; q < partitions; q++) tps.add(new TopicPartition(topic, q));
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            Map<TopicPartition, Long> ends = consumer.endOffsets(tps, Duration.ofSeconds(30));
            long[] last = new long[partitions];
            Arrays.fill(last, -1);
            long deadline = System.currentTimeMillis() + timeoutMs;
            for (;;) {
                boolean done = true;
                for (TopicPartition tp : tps) if (consumer.position(tp, Duration.ofSeconds(30)) < ends.get(tp)) done = false;
                if (done) break;
                if (System.currentTimeMillis() > deadline) return fail("dump: timed out; positions short of " + ends);
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                    if (r.offset() <= last[r.partition()]) return fail("dump: offset " + r.offset() + " of partition " + r.partition() + " after " + last[r.partition()]);
                    last[r.partition()] = r.offset();
                    if (r.offset() < ends.get(new TopicPartition(topic, r.partition()))) {
                        out.append(r.partition()).append(' ').append(r.offset()).append(' ').append(text(r.key())).append(' ').append(text(r.value())).append('\n');
                    }
                }
            }
        }
        System.out.print(out);
        return 0;
    }

    // ----------------------------------------------------------------------------------------------------------
    // group (one consumer-group member) and admin (the AdminClient's group APIs)

    static String assignorClass(String name) {
        switch (name) {
            case "range": return "org.apache.kafka.clients.consumer.RangeAssignor";
            case "roundrobin": return "org.apache.kafka.clients.consumer.RoundRobinAssignor";
            case "sticky": return "org.apache.kafka.clients.consumer.StickyAssignor";
            case "cooperative-sticky": return "org.apache.kafka.clients.consumer.CooperativeStickyAssignor";
            default: usage("unknown assignor " + name); return null;
        }
    }

    static String partitions(Collection<TopicPartition> tps) {
        if (tps.isEmpty()) return "-";
        TreeSet<Integer> ps = new TreeSet<>();
        for (TopicPartition tp : tps) ps.add(tp.partition());
        StringBuilder sb = new StringBuilder();
        for (int q : ps) sb.append(sb.length() == 0 ? "" : ",").append(q);
        return sb.toString();
    }

    static int group(Map<String, String> a) throws Exception {
        String topic = req(a, "topic");
        Properties p = consumerProperties(a, a.getOrDefault("client-id", "klite-java-member"));
        p.put(ConsumerConfig.GROUP_ID_CONFIG, req(a, "group"));
        p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, assignorClass(a.getOrDefault("assignor", "range")));
        p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, a.getOrDefault("session-timeout-ms", "10000"));
        p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500");
        p.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, "30000");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, a.getOrDefault("max-poll-records", "250"));
        p.put(ConsumerConfig.RETRY_BACKOFF_MS_CONFIG, "100");
        p.put(ConsumerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
        if (a.containsKey("instance-id")) p.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, a.get("instance-id"));

        PrintWriter out = new PrintWriter(new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), 1 << 16));
        AtomicBoolean stop = new AtomicBoolean(false);
        // SIGTERM only sets the flag: the loop finishes its batch and commit (polls are short), then closes.
        sun.misc.Signal.handle(new sun.misc.Signal("TERM"), sig -> stop.set(true));
        sun.misc.Signal.handle(new sun.misc.Signal("INT"), sig -> stop.set(true));
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p);
        consumer.subscribe(Collections.singletonList(topic), new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> tps) {
                out.println("revoked " + partitions(tps)); // everything processed is committed already
                out.flush();
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> tps) {
                out.println("assigned " + partitions(tps));
                out.println("generation " + consumer.groupMetadata().generationId() + " " + consumer.groupMetadata().memberId());
                out.flush();
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> tps) {
                out.println("lost " + partitions(tps));
                out.flush();
            }
        });
        while (!stop.get()) {
            ConsumerRecords<byte[], byte[]> recs = consumer.poll(Duration.ofMillis(200));
            Map<TopicPartition, OffsetAndMetadata> next = new LinkedHashMap<>();
            for (ConsumerRecord<byte[], byte[]> r : recs) {
                out.println("r " + r.partition() + " " + r.offset() + " " + (r.key() == null ? "-" : new String(r.key(), StandardCharsets.UTF_8)));
                next.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
            }
            out.flush();
            if (next.isEmpty()) continue;
            try {
                consumer.commitSync(next);
                StringBuilder sb = new StringBuilder();
                for (Map.Entry<TopicPartition, OffsetAndMetadata> e : next.entrySet()) {
                    sb.append(sb.length() == 0 ? "" : ",").append(e.getKey().partition()).append(':').append(e.getValue().offset());
                }
                out.println("committed " + sb);
            } catch (CommitFailedException | RebalanceInProgressException e) {
                out.println("commit-failed " + e.getClass().getSimpleName());
            }
            out.flush();
        }
        consumer.close(Duration.ofSeconds(30));
        out.println("closed");
        out.flush();
        return 0;
    }

    static int admin(Map<String, String> a) throws Exception {
        String action = req(a, "action");
        String group = a.get("group");
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, req(a, "bootstrap"));
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "klite-java-admin");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        try (Admin admin = Admin.create(p)) {
            try {
                switch (action) {
                    case "list":
                        for (GroupListing g : admin.listGroups().all().get(30, TimeUnit.SECONDS)) {
                            System.out.println("group " + g.groupId() + " " + g.groupState().map(Object::toString).orElse("?") + " " + g.type().map(Object::toString).orElse("?") + " " + g.protocol());
                        }
                        break;
                    case "describe": {
                        ConsumerGroupDescription d = admin.describeConsumerGroups(Collections.singletonList(group)).describedGroups().get(group).get(30, TimeUnit.SECONDS);
                        System.out.println("described " + d.groupId() + " " + d.groupState() + " " + d.partitionAssignor() + " " + d.members().size() + " coordinator=" + d.coordinator().id());
                        for (MemberDescription m : d.members()) {
                            System.out.println("member " + m.consumerId() + " " + m.groupInstanceId().orElse("-") + " " + m.clientId() + " " + m.host() + " " + partitions(m.assignment().topicPartitions()));
                        }
                        break;
                    }
                    case "offsets":
                        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS).entrySet()) {
                            if (e.getValue() != null) System.out.println("offset " + e.getKey().topic() + " " + e.getKey().partition() + " " + e.getValue().offset());
                        }
                        break;
                    case "delete":
                        admin.deleteConsumerGroups(Collections.singletonList(group)).all().get(30, TimeUnit.SECONDS);
                        System.out.println("deleted " + group);
                        break;
                    case "delete-offsets": {
                        TopicPartition tp = new TopicPartition(req(a, "topic"), Integer.parseInt(req(a, "partition")));
                        admin.deleteConsumerGroupOffsets(group, Collections.singleton(tp)).all().get(30, TimeUnit.SECONDS);
                        System.out.println("deleted-offsets " + group + " " + tp.topic() + " " + tp.partition());
                        break;
                    }
                    case "describe-configs": {
                        ConfigResource r = resource(a);
                        Config c = admin.describeConfigs(Collections.singletonList(r), new DescribeConfigsOptions().includeSynonyms(true)).all().get(30, TimeUnit.SECONDS).get(r);
                        String keys = a.get("keys");
                        for (ConfigEntry e : c.entries()) {
                            if (keys != null && !Arrays.asList(keys.split(",")).contains(e.name())) continue;
                            StringBuilder syn = new StringBuilder();
                            for (ConfigEntry.ConfigSynonym y : e.synonyms()) syn.append(syn.length() == 0 ? "" : ",").append(y.source()).append(":").append(y.name()).append("=").append(y.value());
                            System.out.println("config " + e.name() + "=" + e.value() + " source=" + e.source() + " sensitive=" + e.isSensitive() + " readOnly=" + e.isReadOnly() + " synonyms=" + syn);
                        }
                        break;
                    }
                    case "alter-configs": {
                        List<AlterConfigOp> ops = new ArrayList<>();
                        if (a.containsKey("set")) for (String kv : a.get("set").split(";")) ops.add(new AlterConfigOp(entry(kv), AlterConfigOp.OpType.SET));
                        if (a.containsKey("delete")) for (String k : a.get("delete").split(",")) ops.add(new AlterConfigOp(new ConfigEntry(k, null), AlterConfigOp.OpType.DELETE));
                        if (a.containsKey("append")) ops.add(new AlterConfigOp(entry(a.get("append")), AlterConfigOp.OpType.APPEND));
                        if (a.containsKey("subtract")) ops.add(new AlterConfigOp(entry(a.get("subtract")), AlterConfigOp.OpType.SUBTRACT));
                        ConfigResource r = resource(a);
                        admin.incrementalAlterConfigs(Collections.singletonMap(r, ops)).all().get(30, TimeUnit.SECONDS);
                        System.out.println("altered " + r.type() + " " + r.name());
                        break;
                    }
                    case "delete-records": {
                        TopicPartition tp = new TopicPartition(req(a, "topic"), Integer.parseInt(req(a, "partition")));
                        DeletedRecords d = admin.deleteRecords(Collections.singletonMap(tp, RecordsToDelete.beforeOffset(Long.parseLong(req(a, "offset"))))).lowWatermarks().get(tp).get(30, TimeUnit.SECONDS);
                        System.out.println("low-watermark " + tp.topic() + " " + tp.partition() + " " + d.lowWatermark());
                        break;
                    }
                    case "list-offsets": {
                        TopicPartition tp = new TopicPartition(req(a, "topic"), Integer.parseInt(req(a, "partition")));
                        String spec = req(a, "spec");
                        OffsetSpec os = spec.equals("earliest") ? OffsetSpec.earliest() : spec.equals("latest") ? OffsetSpec.latest()
                            : spec.equals("earliest-local") ? OffsetSpec.earliestLocal() : spec.equals("latest-tiered") ? OffsetSpec.latestTiered()
                            : spec.equals("max-timestamp") ? OffsetSpec.maxTimestamp() : OffsetSpec.forTimestamp(Long.parseLong(spec));
                        ListOffsetsResult.ListOffsetsResultInfo i = admin.listOffsets(Collections.singletonMap(tp, os)).partitionResult(tp).get(30, TimeUnit.SECONDS);
                        System.out.println("offset " + spec + " " + i.offset() + " epoch=" + i.leaderEpoch().map(String::valueOf).orElse("-"));
                        break;
                    }
                    case "describe-producers": {
                        TopicPartition tp = new TopicPartition(req(a, "topic"), Integer.parseInt(req(a, "partition")));
                        DescribeProducersResult.PartitionProducerState st = admin.describeProducers(Collections.singletonList(tp)).partitionResult(tp).get(30, TimeUnit.SECONDS);
                        for (ProducerState ps : st.activeProducers()) System.out.println("producer " + ps.producerId() + " epoch=" + ps.producerEpoch() + " lastSequence=" + ps.lastSequence());
                        break;
                    }
                    case "log-dirs": {
                        Map<Integer, Map<String, LogDirDescription>> all = admin.describeLogDirs(Collections.singletonList(Integer.parseInt(a.getOrDefault("broker", "0")))).allDescriptions().get(30, TimeUnit.SECONDS);
                        for (Map.Entry<Integer, Map<String, LogDirDescription>> b : all.entrySet()) {
                            for (Map.Entry<String, LogDirDescription> d : b.getValue().entrySet()) {
                                System.out.println("logdir " + b.getKey() + " " + d.getKey() + " total=" + d.getValue().totalBytes().orElse(-1) + " usable=" + d.getValue().usableBytes().orElse(-1));
                                for (Map.Entry<TopicPartition, ReplicaInfo> r : d.getValue().replicaInfos().entrySet()) System.out.println("replica " + r.getKey() + " size=" + r.getValue().size());
                            }
                        }
                        break;
                    }
                    default:
                        usage("unknown admin action " + action);
                }
            } catch (ExecutionException e) {
                // Expected refusals (e.g. GroupNotEmptyException) are results for the test to check, not crashes.
                System.out.println("error " + action + " " + e.getCause().getClass().getSimpleName() + ": " + e.getCause().getMessage());
            }
        }
        return 0;
    }

    static ConfigResource resource(Map<String, String> a) {
        String type = req(a, "type");
        if (type.equals("broker-default")) return new ConfigResource(ConfigResource.Type.BROKER, "");
        return new ConfigResource(type.equals("broker") ? ConfigResource.Type.BROKER : ConfigResource.Type.TOPIC, req(a, "name"));
    }

    static ConfigEntry entry(String kv) {
        int eq = kv.indexOf('=');
        return new ConfigEntry(kv.substring(0, eq), kv.substring(eq + 1));
    }

    // ----------------------------------------------------------------------------------------------------------

    static int fail(String message) {
        System.err.println(message);
        return 1;
    }

    static Map<String, String> parse(String[] args) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--")) usage("unexpected argument " + args[i]);
            if (i + 1 >= args.length) usage("missing value for " + args[i]);
            m.put(args[i].substring(2), args[++i]);
        }
        return m;
    }

    static String req(Map<String, String> a, String name) {
        String v = a.get(name);
        if (v == null) usage("missing --" + name);
        return v;
    }

    static void usage(String why) {
        System.err.println("KliteJavaClient: " + why);
        System.err.println("usage: create-topic|produce|consume|stream|dump|group|admin --bootstrap H:P --topic T [--count N --partitions P --compression C --acks all|1 --acked-file F]");
        System.exit(2);
    }
}
