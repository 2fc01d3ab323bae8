// The stores `imagepipe init` creates, as CloudFormation resources: the
// originals and variants buckets, the job queue with its dead-letter queue,
// the events queue and the three DynamoDB tables. Names and settings follow
// internal/app/provision.go and the drivers' EnsureTable/Ensure; the Go test
// beside this directory (tables_test.go) compares the tables with what init
// creates against dynalite.
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';

/** Settings of the stores. */
export interface StorageProps {
  /** Prefix of the queue and table names: <name>-jobs, <name>-images. */
  readonly name: string;
  /** processor.max-attempts: the job queue's maxReceiveCount is this + 1. */
  readonly maxAttempts: number;
  /** processor.visibility: the job queue's visibility timeout. */
  readonly visibility: Duration;
  /** ?ttl= of the status URL: items expire; Time to Live on the delivery log. */
  readonly statusTTL?: Duration;
  /**
   * Prefixes of the originals bucket holding uploads that may be abandoned,
   * besides `uploads/` (direct uploads): each expires after a day. The
   * resumable (tus) uploads' prefixes go here.
   */
  readonly abandonedPrefixes: string[];
  /** Origins allowed to POST the direct-upload form to the originals bucket. */
  readonly corsOrigins: string[];
  /** Bucket receiving the buckets' server access logs. */
  readonly accessLogs: s3.IBucket;
}

/** Days after which an abandoned upload (and an incomplete multipart upload) is removed. */
export const ABANDONED_AFTER = Duration.days(1);

/** Prefix of direct uploads in the originals bucket (ingest's presigned POSTs). */
export const UPLOADS_PREFIX = 'uploads/';

/**
 * The S3 driver's own temporary objects (internal/stores/blob/s3blob), at
 * the root of the bucket as the stack's store URLs have no prefix:
 * STAGING_PREFIX holds Put's staging copies, removed after a day like
 * `uploads/`; PARTIAL_PREFIX the resumable (tus) uploads' bookkeeping and
 * tails under 5 MiB, which ingest's sweep removes when an upload expires
 * (IMAGEPIPE_INGEST_RESUMABLE_EXPIRY, 24 h) and this rule after
 * PARTIAL_AFTER if a crash left them.
 */
export const STAGING_PREFIX = '.s3blob-staging/';
export const PARTIAL_PREFIX = '.s3blob-partial/';
export const PARTIAL_AFTER = Duration.days(2);

/** Attribute names of the drivers' tables (internal/stores/.../dynamo*). */
const PK = 'pk';
const EXPIRES = 'expires_at';

/** The buckets, queues and tables of one deployment. */
export class Storage extends Construct {
  readonly originals: s3.Bucket;
  readonly variants: s3.Bucket;
  readonly jobs: sqs.Queue;
  readonly deadLetters: sqs.Queue;
  readonly events: sqs.Queue;
  readonly images: dynamodb.Table;
  readonly tenants: dynamodb.Table;
  readonly webhooks: dynamodb.Table;
  /** The status store URL every target gets (IMAGEPIPE_STATUS). */
  readonly statusURL: string;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    this.originals = originalsBucket(this, props);
    this.variants = privateBucket(this, 'Variants', props.accessLogs, 'variants/');
    this.deadLetters = new sqs.Queue(this, 'DeadLetters', {
      queueName: `${props.name}-jobs-dlq`,
      retentionPeriod: Duration.days(14),
      visibilityTimeout: props.visibility,
      maxMessageSizeBytes: MAX_MESSAGE_SIZE,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.jobs = new sqs.Queue(this, 'Jobs', {
      queueName: `${props.name}-jobs`,
      visibilityTimeout: props.visibility,
      // The driver asks for its own wait on every receive; it refuses a
      // queue whose default wait would override a receive without one.
      receiveMessageWaitTime: Duration.seconds(0),
      maxMessageSizeBytes: MAX_MESSAGE_SIZE,
      deadLetterQueue: { queue: this.deadLetters, maxReceiveCount: props.maxAttempts + 1 },
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.events = new sqs.Queue(this, 'Events', {
      queueName: `${props.name}-events`,
      visibilityTimeout: Duration.minutes(1),
      receiveMessageWaitTime: Duration.seconds(0),
      maxMessageSizeBytes: MAX_MESSAGE_SIZE,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    NagSuppressions.addResourceSuppressions(this.events, [{
      id: 'AwsSolutions-SQS3',
      reason: 'No dead-letter queue by design: each webhook delivery counts its own attempts and is FAILED in the delivery log after the last (DEPLOYMENT.md).',
    }]);
    // Direct uploads: the processor admits what lands under uploads/.
    this.originals.addEventNotification(s3.EventType.OBJECT_CREATED, new s3n.SqsDestination(this.jobs), { prefix: UPLOADS_PREFIX });

    const table = `${props.name}-images`;
    this.statusURL = `dynamodb://${table}` + (props.statusTTL ? `?ttl=${goDuration(props.statusTTL)}` : '');
    this.images = newTable(this, 'Images', table, EXPIRES, [
      { indexName: 'by_batch', partitionKey: str('batch_id'), sortKey: str(PK) },
      { indexName: 'by_tenant', partitionKey: str('tenant'), sortKey: str(PK) },
    ]);
    this.tenants = newTable(this, 'Tenants', `${table}-tenants`, undefined, [
      { indexName: 'by_tenant', partitionKey: str('tenant'), sortKey: str('key_id') },
    ]);
    this.webhooks = newTable(this, 'Webhooks', `${table}-webhooks`, props.statusTTL ? EXPIRES : undefined, [
      { indexName: 'by_created', partitionKey: str('log'), sortKey: { name: 'created', type: dynamodb.AttributeType.NUMBER } },
    ]);
  }
}

/** MaximumMessageSize sqsqueue.Ensure sets (the SQS maximum). */
const MAX_MESSAGE_SIZE = 1 << 20;

function str(name: string): dynamodb.Attribute {
  return { name, type: dynamodb.AttributeType.STRING };
}

/**
 * A table as dynamoutil.EnsureTable makes it: partition key pk (S), pay per
 * request, the global secondary indexes with projection ALL, Time to Live on
 * ttlAttr if set; point-in-time recovery on and kept when the stack goes.
 */
function newTable(scope: Construct, id: string, tableName: string, ttlAttr: string | undefined,
  indexes: dynamodb.GlobalSecondaryIndexProps[]): dynamodb.Table {
  const t = new dynamodb.Table(scope, id, {
    tableName,
    partitionKey: str(PK),
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    timeToLiveAttribute: ttlAttr,
    deletionProtection: true,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  for (const ix of indexes) {
    t.addGlobalSecondaryIndex({ ...ix, projectionType: dynamodb.ProjectionType.ALL });
  }
  return t;
}

/** A bucket with public access blocked, SSE-S3, TLS only, access logs, kept when the stack goes. */
function privateBucket(scope: Construct, id: string, logs: s3.IBucket, logPrefix: string,
  extra: Partial<s3.BucketProps> = {}): s3.Bucket {
  return new s3.Bucket(scope, id, {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    serverAccessLogsBucket: logs,
    serverAccessLogsPrefix: logPrefix,
    removalPolicy: RemovalPolicy.RETAIN,
    ...extra,
  });
}

/**
 * The originals bucket: private; incomplete multipart uploads aborted and
 * abandoned uploads (uploads/ and props.abandonedPrefixes) expired after a
 * day; a CORS rule for browsers posting the direct-upload form.
 */
function originalsBucket(scope: Construct, props: StorageProps): s3.Bucket {
  const prefixes = [UPLOADS_PREFIX, STAGING_PREFIX, ...props.abandonedPrefixes];
  const lifecycleRules: s3.LifecycleRule[] = [
    // A resumable upload is one multipart upload for up to its expiry (24 h).
    { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: PARTIAL_AFTER },
    ...prefixes.map((prefix) => ({ id: `expire-abandoned-${prefix.replace(/[^A-Za-z0-9]+/g, '-')}`, prefix, expiration: ABANDONED_AFTER })),
    { id: 'expire-resumable-upload-leftovers', prefix: PARTIAL_PREFIX, expiration: PARTIAL_AFTER },
  ];
  const cors: s3.CorsRule[] = props.corsOrigins.length === 0 ? [] : [{
    allowedMethods: [s3.HttpMethods.POST],
    allowedOrigins: props.corsOrigins,
    allowedHeaders: ['*'],
    maxAge: 3600,
  }];
  return privateBucket(scope, 'Originals', props.accessLogs, 'originals/', { lifecycleRules, cors });
}

/** A duration as Go's time.ParseDuration reads it, in whole hours, minutes or seconds. */
export function goDuration(d: Duration): string {
  const s = d.toSeconds();
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}
