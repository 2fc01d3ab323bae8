// Least privilege per target: docs/DEPLOYMENT.md's IAM table, statement by
// statement, on the stack's own buckets, queues and tables. The grant*
// helpers of the CDK give broader sets (e.g. every s3:Get*), so the actions
// are listed here.
import * as iam from 'aws-cdk-lib/aws-iam';
import { Storage } from './storage';

/** The four targets, each its own service. */
export const TARGETS = ['ingest', 'processor', 'status', 'gateway'] as const;
export type Target = (typeof TARGETS)[number];

/** Actions on resources, one statement. */
export interface Grant {
  readonly actions: string[];
  readonly resources: string[];
}

/** What each target may do, as DEPLOYMENT.md lists it. */
export function targetGrants(target: Target, s: Storage): Grant[] {
  const objects = (b: { bucketArn: string }) => `${b.bucketArn}/*`;
  const index = (t: { tableArn: string }, name: string) => `${t.tableArn}/index/${name}`;
  // Every gRPC target reads each call's API key and records its last use.
  const keyLookup: Grant = { actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], resources: [s.tenants.tableArn] };
  switch (target) {
    case 'ingest':
      return [
        // Resumable uploads read their parts and tails back; the expiry sweep lists them.
        { actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload', 's3:DeleteObject'], resources: [objects(s.originals)] },
        { actions: ['s3:ListBucket'], resources: [s.originals.bucketArn] },
        { actions: ['sqs:SendMessage', 'sqs:GetQueueUrl'], resources: [s.jobs.queueArn] },
        { actions: ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:ConditionCheckItem'], resources: [s.images.tableArn] },
        keyLookup,
      ];
    case 'processor':
      return [
        { actions: ['sqs:SendMessage'], resources: [s.events.queueArn] },
        { actions: ['s3:GetObject', 's3:DeleteObject', 's3:PutObject', 's3:AbortMultipartUpload'], resources: [objects(s.originals)] },
        { actions: ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'], resources: [objects(s.variants)] },
        {
          actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
          resources: [s.jobs.queueArn],
        },
        { actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:ConditionCheckItem'], resources: [s.images.tableArn] },
        keyLookup,
      ];
    case 'status':
      return [
        {
          actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
          // by_tenant: ListImages, a tenant's images newest first.
          resources: [s.images.tableArn, index(s.images, 'by_batch'), index(s.images, 'by_tenant'), s.webhooks.tableArn, index(s.webhooks, 'by_created')],
        },
        {
          actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:SendMessage', 'sqs:GetQueueUrl', 'sqs:GetQueueAttributes'],
          resources: [s.jobs.queueArn, s.deadLetters.queueArn, s.events.queueArn],
        },
        { actions: ['dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:Scan'], resources: [s.tenants.tableArn, index(s.tenants, 'by_tenant')] },
        keyLookup,
      ];
    case 'gateway':
      // It serves /a/{id}/{variant} for signed links to private images.
      return [{ actions: ['s3:GetObject'], resources: [objects(s.variants)] }];
  }
}

/** Adds target's grants to its task role. */
export function grantTarget(target: Target, role: iam.IRole, s: Storage) {
  for (const g of targetGrants(target, s)) {
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: g.actions, resources: g.resources }));
  }
}
