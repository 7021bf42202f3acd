// Loaded before the test files (bunfig.toml [test] preload), so `npm test` and a bare `bun test <file>` share it.

// KafkaJS 2 prints a partitioner warning on every producer otherwise.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= "1";
