// KafkaJS for tests, with one upstream bug worked around: KafkaJS 2.2.4 schedules its pending-request check with
// `setTimeout(fn, throttledUntil - Date.now())` even when nothing is throttled (throttledUntil = -1), so every
// client prints Bun's "TimeoutNegativeWarning: -17... is a negative number" (tulios/kafkajs#1751, fix proposed in
// #1768, not released). With nothing pending and no throttle that timer only checks an empty queue, so it is
// skipped here; everything else is KafkaJS as published.
// @ts-expect-error: an internal module of KafkaJS, without type declarations
import RequestQueue from "kafkajs/src/network/requestQueue/index.js";

interface Queue {
  pending: unknown[];
  throttledUntil: number;
  scheduleCheckPendingRequests(): void;
}

const proto = (RequestQueue as unknown as { prototype: Queue }).prototype;
const schedule = proto.scheduleCheckPendingRequests;
proto.scheduleCheckPendingRequests = function (this: Queue) {
  if (this.pending.length === 0 && this.throttledUntil <= Date.now()) return;
  schedule.call(this);
};

export * from "kafkajs";
