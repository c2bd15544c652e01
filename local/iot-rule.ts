/**
 * The telemetry topic rule's semantics, as the twin's rule bridge applies them: what the rule's SQL
 * puts on the stream for a message on a telemetry topic, and with which partition key.
 *
 *   SELECT encode(*, 'base64') AS payload, topic() AS topic, topic(3) AS deviceId,
 *          timestamp() AS receivedAtMs FROM 'dt/sdap/+/telemetry'
 *   Kinesis action: partitionKey = ${topic(3)}
 */
import { deviceIdFromTopic, type RuleEnvelope, TELEMETRY_TOPIC_PREFIX } from '../lambdas/shared/contract.ts';

export interface RuleOutput {
  readonly partitionKey: string;
  readonly data: Buffer;
}

/**
 * Applies the rule to one message. Returns undefined when the topic does not match the rule's
 * FROM clause (IoT Core would not evaluate the rule at all).
 */
export function applyTelemetryRule(
  topic: string,
  payload: Uint8Array,
  receivedAtMs: number,
): RuleOutput | undefined {
  const deviceId = deviceIdFromTopic(topic);
  if (deviceId === undefined) return undefined;
  // Basic Ingest: the rule sees the topic without the `$aws/rules/<rule>/` prefix.
  const ruleTopic = topic.slice(topic.indexOf(TELEMETRY_TOPIC_PREFIX));
  const envelope: RuleEnvelope = {
    payload: Buffer.from(payload).toString('base64'),
    topic: ruleTopic,
    deviceId,
    receivedAtMs,
  };
  return { partitionKey: deviceId, data: Buffer.from(JSON.stringify(envelope)) };
}
