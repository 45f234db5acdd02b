import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { INCOMING_PREFIX, RESULTS_PREFIX, VAULT_PREFIX } from '../../shared/vault/constants.ts';
import { acknowledgeWildcardResource } from '../nag.ts';
import { dataRemovalPolicy, keptEvenOnFailedCreate } from '../removal-policy.ts';
import { manageProviderLogs } from './provider-logs.ts';
import type { TaniumFunction } from './tanium-function.ts';

/**
 * Key prefixes of the vault bucket (design.md §3), the ones the vault writes: a rename there moves the
 * functions' grants and the lifecycle rules with it.
 */
export const VAULT_PREFIXES = {
  /** Evidence by content address: `vault/<sha1>`. */
  vault: VAULT_PREFIX,
  /** Uploads in flight, renamed to their content address once hashed. */
  incoming: INCOMING_PREFIX,
  /** Action results too big for an EventBridge entry. */
  results: RESULTS_PREFIX,
} as const;

/** Writing an object, including lib-storage's multipart path and its clean-up after a failed upload. */
const WRITE_ACTIONS = ['s3:PutObject', 's3:AbortMultipartUpload'];

export interface VaultBucketProps {
  readonly retainData: boolean;
  readonly resultsExpirationDays: number;
  /** Unset: `vault/` objects are kept until deleted by hand. */
  readonly vaultExpirationDays?: number | undefined;
  readonly accessLogsExpirationDays: number;
  /** Retention of the log group of the function that empties the buckets on deletion (dev). */
  readonly logRetention: logs.RetentionDays;
}

/** The stack-wide provider CDK adds for `autoDeleteObjects`, and its function's id under it. */
const AUTO_DELETE_PROVIDER_ID = 'Custom::S3AutoDeleteObjectsCustomResourceProvider';

/**
 * The S3 vault: private, TLS only, encrypted, versioned, owner-enforced, with server access logs in a
 * bucket of their own. The `grant*` methods give each function only the prefixes and verbs it uses.
 */
export class VaultBucket extends Construct {
  public readonly bucket: s3.Bucket;
  public readonly accessLogsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: VaultBucketProps) {
    super(scope, id);
    const removalPolicy = dataRemovalPolicy(props.retainData);
    // Emptied on deletion only where data is disposable (dev); production keeps its evidence.
    const autoDeleteObjects = !props.retainData;

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      // Server access log delivery supports SSE-S3 only.
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        { id: 'expire-access-logs', expiration: Duration.days(props.accessLogsExpirationDays) },
      ],
      // S3 may deliver the vault's first access logs before a failed first deploy rolls back, and a
      // bucket that is not empty would stop the rollback.
      removalPolicy: keptEvenOnFailedCreate(props.retainData),
      autoDeleteObjects,
    });

    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      // A prefix in the access-logs bucket, named after the bucket it logs; not VAULT_PREFIXES.vault.
      serverAccessLogsPrefix: 'vault/',
      lifecycleRules: [
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        {
          id: 'expire-incoming',
          prefix: VAULT_PREFIXES.incoming,
          expiration: Duration.days(1),
          noncurrentVersionExpiration: Duration.days(1),
        },
        {
          id: 'expire-results',
          prefix: VAULT_PREFIXES.results,
          expiration: Duration.days(props.resultsExpirationDays),
          noncurrentVersionExpiration: Duration.days(1),
        },
        // One rule for all of vault/: S3 refuses two rules expiring the same prefix in the older form.
        // Versioning guards evidence against an accidental overwrite or delete; old versions need not live
        // forever. Evidence is written once and rarely read again: Intelligent-Tiering moves what nobody
        // reads to cheaper tiers, with no retrieval fee for upload intel doc's reads and no minimum
        // duration (S3's daily lifecycle run moves objects of 128 KB or more; smaller ones would cost the
        // same either way). An expiry of the current version, when set, also removes the delete markers
        // left behind, which S3 refuses to be asked for beside it.
        {
          id: 'evidence',
          prefix: VAULT_PREFIXES.vault,
          noncurrentVersionExpiration: Duration.days(30),
          transitions: [
            { storageClass: s3.StorageClass.INTELLIGENT_TIERING, transitionAfter: Duration.days(0) },
          ],
          ...(props.vaultExpirationDays === undefined
            ? { expiredObjectDeleteMarker: true }
            : { expiration: Duration.days(props.vaultExpirationDays) }),
        },
      ],
      removalPolicy,
      autoDeleteObjects,
    });
    if (autoDeleteObjects)
      manageProviderLogs(this, 'AutoDeleteObjectsLogs', AUTO_DELETE_PROVIDER_ID, props.logRetention);
  }

  /** `VAULT_BUCKET` for the function. */
  private bind(fn: TaniumFunction): void {
    fn.addEnvironment('VAULT_BUCKET', this.bucket.bucketName);
  }

  private allow(fn: TaniumFunction, actions: string[], prefixes: string[]): void {
    const resourceArns = prefixes.map((prefix) => this.bucket.arnForObjects(`${prefix}*`));
    iam.Grant.addToPrincipal({ grantee: fn, actions, resourceArns });
    for (const arn of resourceArns) {
      acknowledgeWildcardResource(
        fn.role!,
        arn,
        'Object keys under this prefix (content addresses, request ids) are known only at run time; access stops at the prefix.',
      );
    }
  }

  /**
   * Family functions store oversized results: write `results/*`, with one PutObject (no multipart
   * upload to abort).
   */
  grantResultsWrite(fn: TaniumFunction): void {
    this.bind(fn);
    this.allow(fn, ['s3:PutObject'], [VAULT_PREFIXES.results]);
  }

  /**
   * Read the vault by id (upload intel doc). Listing the bucket lets a missing id read as NoSuchKey
   * rather than AccessDenied, so the failed result says what is wrong.
   */
  grantVaultRead(fn: TaniumFunction): void {
    this.bind(fn);
    this.allow(fn, ['s3:GetObject'], [VAULT_PREFIXES.vault]);
    this.grantList(fn);
  }

  /**
   * The evidence function: stream uploads into `incoming/`, copy them to `vault/<sha1>` (read + write),
   * then delete the `incoming/` object.
   */
  grantEvidence(fn: TaniumFunction): void {
    this.bind(fn);
    this.allow(fn, ['s3:GetObject'], [VAULT_PREFIXES.vault, VAULT_PREFIXES.incoming]);
    this.allow(fn, WRITE_ACTIONS, [VAULT_PREFIXES.vault, VAULT_PREFIXES.incoming]);
    this.allow(fn, ['s3:DeleteObject'], [VAULT_PREFIXES.incoming]);
    this.grantList(fn);
  }

  private grantList(fn: TaniumFunction): void {
    iam.Grant.addToPrincipal({
      grantee: fn,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
    });
  }
}
