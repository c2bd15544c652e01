/**
 * What the training workflow sends the evaluation function for one model's run, and what it gets
 * back. Every error names the field, the value received and what is expected.
 */
import * as z from 'zod';
import { MODEL_NAMES } from '../../ml/model-spec.ts';
import { showValue, valueAt } from '../shared/received-value.ts';
import type { Evaluation } from './evaluate-candidate.ts';
import { MODEL_EVALUATION_ERROR } from './names.ts';

/** Thrown for an event the function cannot use; the workflow does not retry it. */
export class InvalidEvaluationEventError extends Error {
  override readonly name = MODEL_EVALUATION_ERROR;
}

const instant = z.iso.datetime({ error: 'an ISO 8601 UTC time such as 2026-11-30T00:00:00Z' });

const evaluationEventSchema = z
  .strictObject({
    model: z.enum(MODEL_NAMES, { error: `one of ${MODEL_NAMES.join(', ')}` }),
    /** Names the run's prefix `training/<runId>/<model>/`. */
    runId: z
      .string({ error: 'a run id of lowercase letters, digits and hyphens' })
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { error: 'a run id of lowercase letters, digits and hyphens' }),
    /** The training job that built the candidate. */
    trainingJobName: z.string({ error: 'a training job name' }).min(1, { error: 'a training job name' }),
    /** `ModelArtifacts.S3ModelArtifacts` of the training job. */
    modelArtifactUrl: z
      .string({ error: 'the s3:// URL of the model artefact' })
      .regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/\S+$/, {
        error: 'the s3:// URL of the model artefact',
      }),
    /** The model the endpoint's champion variant serves, scored on the same hold-out; null without an endpoint. */
    championModelName: z
      .string({ error: 'a model name or null' })
      .min(1, { error: 'a model name or null' })
      .nullable(),
    window: z.strictObject({ start: instant, splitAt: instant, end: instant }),
  })
  .superRefine((event, ctx) => {
    const [start, splitAt, end] = [event.window.start, event.window.splitAt, event.window.end].map(
      Date.parse,
    );
    if (!((start as number) < (splitAt as number) && (splitAt as number) < (end as number))) {
      ctx.addIssue({ code: 'custom', path: ['window'], message: 'start < splitAt < end' });
    }
  });

export type EvaluationEvent = z.output<typeof evaluationEventSchema>;

/** What the function returns to the workflow: the evaluation, the artefact's hash and the report's location. */
export interface EvaluationResult extends Evaluation {
  /** SHA-256 (hex) of the candidate's `model.tar.gz`, as recorded in the model package. */
  readonly artifactSha256: string;
  /** `s3://.../evaluation.json`: the full report, the model package's `ModelMetrics` source. */
  readonly evaluationUrl: string;
}

/** Validates the workflow's event. @throws InvalidEvaluationEventError naming the field */
export function parseEvaluationEvent(event: unknown): EvaluationEvent {
  const result = evaluationEventSchema.safeParse(event);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.') || '(event)';
    if (issue.code === 'unrecognized_keys') {
      return `${path}: received unknown key(s) ${issue.keys.join(', ')}, expected only the documented keys`;
    }
    return `${path}: received ${showValue(valueAt(event, issue.path))}, expected ${issue.message}`;
  });
  throw new InvalidEvaluationEventError(`evaluation event: ${lines.join('; ')}`);
}
