import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, type Synthesized, synthesize } from './synth.ts';

/**
 * The stateful resources by logical id. CloudFormation replaces a resource whose logical id changes:
 * renaming a construct would delete the table, a bucket's evidence or the messages in a queue on the
 * next deploy, so a change here must come with an upgrade note, never by accident.
 */
const STATEFUL: Record<string, string> = {
  BusEA82B648: 'AWS::Events::EventBus',
  StateTable9728C7E5: 'AWS::DynamoDB::Table',
  VaultBucket0925C477: 'AWS::S3::Bucket',
  VaultAccessLogsC5E11DDC: 'AWS::S3::Bucket',
  CredentialsSecretDA06C3EE: 'AWS::SecretsManager::Secret',
  ConnectionsQueue851347C7: 'AWS::SQS::Queue',
  ConnectionsQueueDeadLetterQueueB0C924A0: 'AWS::SQS::Queue',
  SnapshotsQueueE51D06AD: 'AWS::SQS::Queue',
  SnapshotsQueueDeadLetterQueue5C90388C: 'AWS::SQS::Queue',
  InvestigationQueue5654D371: 'AWS::SQS::Queue',
  InvestigationQueueDeadLetterQueueE5BF755A: 'AWS::SQS::Queue',
  EvidenceQueue18FDD4AF: 'AWS::SQS::Queue',
  EvidenceQueueDeadLetterQueueC66FE704: 'AWS::SQS::Queue',
  IntelQueue3ED56F98: 'AWS::SQS::Queue',
  IntelQueueDeadLetterQueue9A38892F: 'AWS::SQS::Queue',
  AlertsQueue6806F793: 'AWS::SQS::Queue',
  AlertsQueueDeadLetterQueue9E6CB7FA: 'AWS::SQS::Queue',
  PollerScheduleDeadLetterQueueDA806C3A: 'AWS::SQS::Queue',
  ConnectionsFunctionLogGroupD0BC1838: 'AWS::Logs::LogGroup',
  SnapshotsFunctionLogGroup3C3FACEC: 'AWS::Logs::LogGroup',
  InvestigationFunctionLogGroup4611840A: 'AWS::Logs::LogGroup',
  EvidenceFunctionLogGroup7C8D68AF: 'AWS::Logs::LogGroup',
  IntelFunctionLogGroupBC2A3BF6: 'AWS::Logs::LogGroup',
  AlertsFunctionLogGroupDB480705: 'AWS::Logs::LogGroup',
  AlertPollerFunctionLogGroupFC954D43: 'AWS::Logs::LogGroup',
};
/**
 * Kept even when a failed first deploy rolls back: the table's deletion protection would refuse the
 * delete, and the access-log bucket may already hold logs. Neither has a fixed name to fail a retry.
 */
const KEPT_ON_FAILED_CREATE = new Set(['StateTable9728C7E5', 'VaultAccessLogsC5E11DDC']);
/** The dev stack's auto-delete custom resource logs to a group of its own, which holds no data of ours. */
const NOT_OURS = new Set(['VaultAutoDeleteObjectsLogs11DAC5C1']);
/** Properties that set a physical name: a replacement with one fails, since the name is still taken. */
const PHYSICAL_NAMES = ['TableName', 'BucketName', 'QueueName', 'LogGroupName', 'Name'];

interface Resource {
  Type: string;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  Properties?: Record<string, unknown>;
}

describe.each(['dev', 'prod'])('Stack %s: stateful resources', (envName) => {
  let synthesized: Synthesized;
  let resources: Record<string, Resource>;

  beforeAll(() => {
    synthesized = synthesize(envName, {}, { bundling: false });
    resources = synthesized.template.toJSON().Resources as Record<string, Resource>;
  });
  afterAll(() => cleanup(synthesized));

  it('keeps the logical id of every table, bucket, secret, queue, log group and bus', () => {
    const types = new Set(Object.values(STATEFUL));
    const found = Object.fromEntries(
      Object.entries(resources)
        .filter(([id, resource]) => types.has(resource.Type) && !NOT_OURS.has(id))
        .map(([id, resource]) => [id, resource.Type]),
    );
    expect(found).toEqual(STATEFUL);
  });

  it('keeps those holding data on delete and on replacement when the environment retains data', () => {
    // Prepare: the bus holds no data of its own, and its fixed name makes a replacement fail rather than happen.
    const holding = Object.keys(STATEFUL).filter((id) => id !== 'BusEA82B648');
    const retains = synthesized.config.retainData;

    // Act
    const policies = holding.map((id) => [
      id,
      resources[id]?.DeletionPolicy,
      resources[id]?.UpdateReplacePolicy,
    ]);

    // Assess: where data is retained, a failed first deploy's rollback still deletes what it created
    // (RetainExceptOnCreate), but for what that deletion would fail on
    expect(policies).toEqual(
      holding.map((id) => {
        if (!retains) return [id, 'Delete', 'Delete'];
        return [id, KEPT_ON_FAILED_CREATE.has(id) ? 'Retain' : 'RetainExceptOnCreate', 'Retain'];
      }),
    );
  });

  it('leaves behind after a failed first deploy only what its rollback could not delete', () => {
    // Act
    const kept = Object.entries(resources)
      .filter(([, resource]) => resource.DeletionPolicy === 'Retain')
      .map(([id]) => id);

    // Assess: no other resource (the named secret above all) outlives the rollback to fail a retry
    expect(kept.sort()).toEqual(synthesized.config.retainData ? [...KEPT_ON_FAILED_CREATE].sort() : []);
    if (synthesized.config.retainData) {
      expect(resources.CredentialsSecretDA06C3EE?.DeletionPolicy).toBe('RetainExceptOnCreate');
      expect(Object.values(resources).filter((r) => r.Type === 'AWS::KMS::Key')).toEqual([
        expect.objectContaining({ DeletionPolicy: 'RetainExceptOnCreate', UpdateReplacePolicy: 'Retain' }),
      ]);
    }
  });

  it('names only the bus, and keys the table by id', () => {
    const named = Object.entries(STATEFUL).flatMap(([id]) =>
      PHYSICAL_NAMES.filter((name) => resources[id]?.Properties?.[name] !== undefined).map(
        (name) => `${id}.${name}`,
      ),
    );
    expect(named).toEqual(['BusEA82B648.Name']);
    expect(resources.BusEA82B648?.Properties?.Name).toBe(synthesized.config.eventBusName);
    expect(resources.StateTable9728C7E5?.Properties?.KeySchema).toEqual([
      { AttributeName: 'id', KeyType: 'HASH' },
    ]);
  });
});
