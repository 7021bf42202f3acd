#!/usr/bin/env python3
"""A small confluent-kafka (librdkafka) client for klite's peer tests.

  client.py produce --bootstrap H:P --topic T --count N --partitions P [--compression none|gzip|snappy|lz4|zstd]
  client.py consume --bootstrap H:P --topic T --count N --partitions P [--compression ...]
  client.py group   --bootstrap H:P --topic T --group G [--assignor range,roundrobin|cooperative-sticky|...]
                    [--client-id C] [--session-timeout-ms MS] [--instance-id I]
  client.py stream  --bootstrap H:P --topic T --acked-file F [--interval-ms MS]

Record i goes to partition i % P with key "k-<i>", value value(i), headers headers(i) and CreateTime
BASE_TS + i. `produce` is idempotent with acks=all and waits for every delivery report; `consume` assigns every
partition from the beginning (no group) and checks each record exactly. Both exit non-zero on the first problem.
The same record shape is rebuilt in test/peers/python.test.ts (keep the two in step).

`stream` is the failover tests' producer (as the Java client's): idempotent, acks=all, keys "s-<n>" (partitioned by
librdkafka) until SIGTERM, one line "key partition offset" per delivery report appended to the acked file; then it
flushes and prints "stream: done: sent S acked A failed F".

`admin` drives confluent-kafka's AdminClient (what its version has: describe_configs, alter_configs, list_groups):
  client.py admin --action describe-configs|alter-configs|list-groups --resource topic|broker --name N
                  [--set k=v;k=v]
and prints one line per result: "config <name>=<value> source=<n> sensitive=<bool> readOnly=<bool>",
"altered <resource> <name>", "group <id> <state> <protocol type>", or "error <action> <message>".

`group` is one consumer-group member until SIGTERM (then close(), which leaves the group). It prints the line
protocol of test/helpers/group-members.ts: "assigned/revoked/lost <p,..>" from the rebalance callbacks,
"r <partition> <offset> <key>" per record, "committed <p>:<offset>,.." after each synchronous commit (one per
batch of up to 250 polled records), "commit-failed <error>" and "closed".
"""
import argparse
import ctypes
import logging
import signal
import sys
import time

import confluent_kafka
from confluent_kafka import OFFSET_BEGINNING, TIMESTAMP_CREATE_TIME, Consumer, Producer, TopicPartition

BASE_TS = 1_700_000_000_000
NONE_HEADER_REFCOUNT_BUG = tuple(int(x) for x in confluent_kafka.version()[0].split(".")[:3]) < (1, 8, 2)


def key(i):
    return f"k-{i}".encode()


def value(i):
    """A few hundred compressible bytes, length varying with i, ending in three binary bytes."""
    length = 120 + (i * 131) % 480
    unit = f"value-{i}-"
    text = (unit * (length // len(unit) + 1))[:length]
    return text.encode() + bytes([i % 256, 0, 255])


def headers(i):
    hs = [("idx", str(i).encode()), ("src", b"confluent-kafka")]
    if i % 7 == 0:
        hs.append(("nothing", None))
    return hs


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


class RdkafkaLog(logging.Handler):
    """librdkafka's log lines, printed to stderr. Error-level lines (protocol parse failures, refused requests...)
    never happen against a correct broker, so the first one fails the command at the next check."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.errors = []

    def emit(self, record):
        line = record.getMessage()
        print(f"[rdkafka {record.levelname}] {line}", file=sys.stderr, flush=True)
        if record.levelno >= logging.ERROR:
            self.errors.append(line)

    def check(self):
        if self.errors:
            fail(f"librdkafka logged an error: {self.errors[0]}")


LOG = RdkafkaLog()


def common_config(args):
    logger = logging.getLogger("rdkafka")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    if LOG not in logger.handlers:
        logger.addHandler(LOG)
    conf = {"bootstrap.servers": args.bootstrap, "socket.timeout.ms": 10000, "logger": logger}
    if args.debug:
        conf["debug"] = args.debug
    return conf


def produce(args):
    conf = common_config(args)
    conf.update(
        {
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": args.compression,
            "linger.ms": 10,
            "message.timeout.ms": args.timeout * 1000,
        }
    )
    p = Producer(conf)
    errors = []
    delivered = [0]
    # Per partition, the offsets delivery reports give must be 0, 1, 2... in produce order (idempotence keeps order).
    next_offset = {}

    def on_delivery(err, msg):
        if err is not None:
            errors.append(f"delivery of {msg.key()!r} failed: {err}")
            return
        part = msg.partition()
        want = next_offset.get(part, 0)
        if msg.offset() != want:
            errors.append(f"{msg.key()!r} delivered to partition {part} offset {msg.offset()}, expected {want}")
        next_offset[part] = want + 1
        delivered[0] += 1

    deadline = time.monotonic() + args.timeout
    for i in range(args.count):
        while True:
            try:
                p.produce(
                    args.topic,
                    value=value(i),
                    key=key(i),
                    partition=i % args.partitions,
                    timestamp=BASE_TS + i,
                    headers=headers(i),
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                p.poll(0.05)
                if time.monotonic() > deadline:
                    fail("timed out with a full local queue")
        p.poll(0)
        if errors:
            fail(errors[0])
        LOG.check()
    remaining = p.flush(max(1.0, deadline - time.monotonic()))
    if errors:
        fail(errors[0])
    LOG.check()
    if remaining:
        fail(f"{remaining} records still undelivered at the deadline")
    if delivered[0] != args.count:
        fail(f"{delivered[0]} delivery reports for {args.count} records")
    print(f"produced {args.count} records to {args.topic} ({args.compression})", flush=True)


def stream(args):
    conf = common_config(args)
    conf.update({"enable.idempotence": True, "acks": "all", "linger.ms": 2, "message.timeout.ms": 300000,
                 "retry.backoff.ms": 50, "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500})
    p = Producer(conf)
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    counts = {"sent": 0, "acked": 0, "failed": 0}
    out = open(args.acked_file, "a", buffering=1)

    def on_delivery(err, msg):
        if err is not None:
            counts["failed"] += 1
            if counts["failed"] <= 20:
                print(f"stream: delivery of {msg.key()!r} failed: {err}", file=sys.stderr, flush=True)
            return
        out.write(f"{msg.key().decode()} {msg.partition()} {msg.offset()}\n")
        counts["acked"] += 1

    n = 0
    while not stop[0]:
        try:
            p.produce(args.topic, key=f"s-{n}".encode(), value=value(n), on_delivery=on_delivery)
            counts["sent"] += 1
            n += 1
        except BufferError:
            pass
        p.poll(args.interval_ms / 1000)
    print(f"stream: stopping after {counts['sent']} sends; flushing", flush=True)
    p.flush(300)
    out.close()
    print(f"stream: done: sent {counts['sent']} acked {counts['acked']} failed {counts['failed']}", flush=True)


def consume(args):
    conf = common_config(args)
    conf.update(
        {
            # No group: partitions are assigned explicitly and offsets never committed. librdkafka 2.0 still wants
            # a group.id for a Consumer object; without subscribe() it never joins the group.
            "group.id": f"klite-peer-test-{args.topic}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": False,
        }
    )
    c = Consumer(conf)
    c.assign([TopicPartition(args.topic, part, OFFSET_BEGINNING) for part in range(args.partitions)])
    # Record k of partition part is record i = part + k * P.
    next_k = {part: 0 for part in range(args.partitions)}
    got = 0
    deadline = time.monotonic() + args.timeout
    try:
        while got < args.count:
            if time.monotonic() > deadline:
                fail(f"timed out after {got} of {args.count} records (next per partition: {next_k})")
            msg = c.poll(0.5)
            LOG.check()
            if msg is None:
                continue
            if msg.error():
                fail(f"consumer error: {msg.error()}")
            check(args, msg, next_k)
            got += 1
        # Nothing more may follow: no duplicates, no strays.
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            msg = c.poll(0.2)
            LOG.check()
            if msg is None:
                continue
            if msg.error():
                fail(f"consumer error: {msg.error()}")
            fail(f"unexpected extra record: partition {msg.partition()} offset {msg.offset()} key {msg.key()!r}")
    finally:
        c.close()
    LOG.check()
    print(f"consumed and verified {got} records from {args.topic}", flush=True)


def group(args):
    conf = common_config(args)
    conf.update(
        {
            "group.id": args.group,
            "client.id": args.client_id,
            "partition.assignment.strategy": args.assignor,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": args.session_timeout_ms,
            "heartbeat.interval.ms": 500,
            "enable.partition.eof": False,
        }
    )
    if args.instance_id:
        conf["group.instance.id"] = args.instance_id
    out = sys.stdout
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))

    def show(kind, parts):
        ps = sorted(tp.partition for tp in parts)
        print(f"{kind} {','.join(map(str, ps)) or '-'}", file=out, flush=True)

    def on_assign(consumer, parts):
        show("assigned", parts)
        if "cooperative" not in args.assignor:
            return  # the binding assigns after the callback
        consumer.incremental_assign(parts)

    c = Consumer(conf)
    c.subscribe(
        [args.topic],
        on_assign=on_assign,
        on_revoke=lambda _c, parts: show("revoked", parts),
        on_lost=lambda _c, parts: show("lost", parts),
    )
    while not stop:
        # poll(), not consume(num_messages): librdkafka 2.0's batch API can lose records across a rebalance (a
        # known issue of 2.0.x, fixed in 2.1.0), which Debian's build still has.
        msgs = []
        m = c.poll(0.2)
        while m is not None and len(msgs) < 250:
            msgs.append(m)
            m = c.poll(0) if len(msgs) < 250 else None
        LOG.check()
        nxt = {}
        for m in msgs:
            if m.error():
                print(f"[consumer error] {m.error()}", file=sys.stderr, flush=True)
                continue
            key = m.key().decode() if m.key() is not None else "-"
            print(f"r {m.partition()} {m.offset()} {key}", file=out)
            nxt[m.partition()] = m.offset() + 1
        out.flush()
        if not nxt:
            continue
        try:
            res = c.commit(offsets=[TopicPartition(args.topic, p, o) for p, o in nxt.items()], asynchronous=False)
            done = [f"{tp.partition}:{tp.offset}" for tp in res if tp.error is None]
            failed = [str(tp.error) for tp in res if tp.error is not None]
            if done:
                print(f"committed {','.join(done)}", file=out)
            for f in failed:
                print(f"commit-failed {f}", file=out)
        except confluent_kafka.KafkaException as e:
            print(f"commit-failed {e.args[0].name()}", file=out)
        out.flush()
    c.close()
    LOG.check()
    print("closed", file=out, flush=True)


def check(args, msg, next_k):
    part = msg.partition()
    if msg.topic() != args.topic:
        fail(f"record from topic {msg.topic()!r}")
    if part not in next_k:
        fail(f"record from unexpected partition {part}")
    k = next_k[part]
    off = msg.offset()
    if off < k:
        fail(f"duplicate: partition {part} offset {off} again (expected {k})")
    if off != k:
        fail(f"gap: partition {part} offset {off}, expected {k}")
    i = part + k * args.partitions
    if i >= args.count:
        fail(f"extra record at partition {part} offset {off}")
    where = f"record {i} (partition {part} offset {off})"
    if msg.key() != key(i):
        fail(f"{where}: key {msg.key()!r}, expected {key(i)!r}")
    if msg.value() != value(i):
        fail(f"{where}: value {msg.value()!r}, expected {value(i)!r}")
    hs = msg.headers() or []
    # confluent-kafka < 1.8.2 (Debian 12 ships 1.7.0) returns None header values without taking a reference, and
    # the interpreter later aborts with "deallocating None" (confluent-kafka-python issue #1191). Give back the
    # reference each None in the list will drop when the list is freed.
    for _, v in hs:
        if v is None and NONE_HEADER_REFCOUNT_BUG:
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(None))
    if [(h, v) for h, v in hs] != headers(i):
        fail(f"{where}: headers {hs!r}, expected {headers(i)!r}")
    ts_type, ts = msg.timestamp()
    if ts_type != TIMESTAMP_CREATE_TIME or ts != BASE_TS + i:
        fail(f"{where}: timestamp ({ts_type}, {ts}), expected ({TIMESTAMP_CREATE_TIME}, {BASE_TS + i})")
    next_k[part] = k + 1


def admin(args):
    from confluent_kafka.admin import AdminClient, ConfigResource

    a = AdminClient({"bootstrap.servers": args.bootstrap, "socket.timeout.ms": 10000})
    kind = ConfigResource.Type.BROKER if args.resource == "broker" else ConfigResource.Type.TOPIC
    try:
        if args.action == "describe-configs":
            res = ConfigResource(kind, args.name)
            for name, e in sorted(a.describe_configs([res])[res].result(timeout=30).items()):
                print(f"config {name}={e.value} source={e.source} sensitive={e.is_sensitive} readOnly={e.is_read_only}")
        elif args.action == "alter-configs":
            # AlterConfigs (the legacy API): the given values replace every explicit config of the resource.
            res = ConfigResource(kind, args.name, set_config=dict(kv.split("=", 1) for kv in args.set.split(";") if kv))
            a.alter_configs([res])[res].result(timeout=30)
            print(f"altered {args.resource} {args.name}")
        elif args.action == "list-groups":
            for g in sorted(a.list_groups(timeout=30), key=lambda g: g.id):
                print(f"group {g.id} {g.state} {g.protocol_type!r}")
    except confluent_kafka.KafkaException as e:
        print(f"error {args.action} {e.args[0].str()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["produce", "consume", "group", "stream", "admin", "version"])
    ap.add_argument("--acked-file", default="")
    ap.add_argument("--interval-ms", type=int, default=2)
    ap.add_argument("--action", default="")
    ap.add_argument("--resource", default="topic")
    ap.add_argument("--name", default="")
    ap.add_argument("--set", default="")
    ap.add_argument("--bootstrap", default="127.0.0.1:9092")
    ap.add_argument("--topic", default="t")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--compression", choices=["none", "gzip", "snappy", "lz4", "zstd"], default="none")
    ap.add_argument("--timeout", type=int, default=120, help="seconds for the whole command")
    ap.add_argument("--debug", default="", help="librdkafka debug contexts, e.g. protocol,broker")
    ap.add_argument("--group", default="")
    ap.add_argument("--assignor", default="range,roundrobin", help="partition.assignment.strategy (librdkafka's default)")
    ap.add_argument("--client-id", default="klite-python-member")
    ap.add_argument("--session-timeout-ms", type=int, default=10000)
    ap.add_argument("--instance-id", default="")
    args = ap.parse_args()
    if args.command == "version":
        print(confluent_kafka.version()[0], confluent_kafka.libversion()[0])
    elif args.command == "produce":
        produce(args)
    elif args.command == "group":
        group(args)
    elif args.command == "stream":
        stream(args)
    elif args.command == "admin":
        admin(args)
    else:
        consume(args)


if __name__ == "__main__":
    try:
        main()
    except confluent_kafka.KafkaException as e:
        fail(str(e))
