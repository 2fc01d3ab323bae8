// The stack's resources, checked on the synthesized template
// (aws-cdk-lib/assertions), and cdk-nag's AwsSolutions pack on it. The
// DynamoDB tables and SQS queues are also compared with what `imagepipe
// init` creates, by the Go test beside this directory (tables_test.go).
import * as vm from 'vm';
import { App, Aspects, Duration } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CDN_ROUTE, ImagepipeStack, ImagepipeStackProps } from '../lib/imagepipe-stack';

const base: ImagepipeStackProps = {
  env: { account: '111111111111', region: 'eu-west-1' },
  certificateArn: 'arn:aws:acm:eu-west-1:111111111111:certificate/00000000-0000-0000-0000-000000000000',
  domainName: 'api.example.com',
  image: ecs.ContainerImage.fromRegistry('ghcr.io/imagepipe/imagepipe:test'),
};

function synth(props: Partial<ImagepipeStackProps> = {}, nag = false): { stack: ImagepipeStack; template: Template } {
  const app = new App();
  const stack = new ImagepipeStack(app, 'Imagepipe', { ...base, ...props });
  if (nag) Aspects.of(app).add(new AwsSolutionsChecks());
  return { stack, template: Template.fromStack(stack) };
}

let stack: ImagepipeStack;
let template: Template;
beforeAll(() => {
  ({ stack, template } = synth({}, true));
});

/** The logical id of the first resource of type whose properties match props. */
function idOf(type: string, props: object): string {
  const found = Object.keys(template.findResources(type, { Properties: props }));
  expect(found).toHaveLength(1);
  return found[0];
}

describe('cdk-nag AwsSolutions', () => {
  test('no finding is left unsuppressed', () => {
    const errors = Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*'));
    expect(errors.map((e) => `${e.id}: ${e.entry.data}`)).toEqual([]);
    const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'));
    expect(warnings.map((e) => `${e.id}: ${e.entry.data}`)).toEqual([]);
  });
});

describe('originals bucket', () => {
  const originals = () => template.findResources('AWS::S3::Bucket', {
    Properties: { LifecycleConfiguration: Match.objectLike({}), NotificationConfiguration: Match.absent() },
  });
  test('private, encrypted, TLS only', () => {
    const [id] = Object.keys(template.findResources('AWS::S3::Bucket', { Properties: { LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Prefix: 'uploads/' })]) } } }));
    const b = template.toJSON().Resources[id].Properties;
    expect(b.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    expect(b.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: id },
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    expect(Object.keys(originals()).length).toBeGreaterThan(0);
  });
  test('abandoned uploads and staging copies expire after a day, resumable uploads\' leftovers and multipart uploads after two', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 }, Status: 'Enabled' }),
          Match.objectLike({ Prefix: 'uploads/', ExpirationInDays: 1, Status: 'Enabled' }),
          Match.objectLike({ Prefix: '.s3blob-staging/', ExpirationInDays: 1, Status: 'Enabled' }),
          Match.objectLike({ Prefix: '.s3blob-partial/', ExpirationInDays: 2, Status: 'Enabled' }),
        ]),
      },
    });
  });
  test('resumable-upload prefixes get the same rule', () => {
    const t = synth({ abandonedUploadPrefixes: ['tus/'] }).template;
    t.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Prefix: 'tus/', ExpirationInDays: 1 })]) },
    });
  });
  test('ObjectCreated under uploads/ goes to the job queue, which lets only this bucket send', () => {
    const jobs = idOf('AWS::SQS::Queue', { QueueName: 'imagepipe-jobs' });
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      NotificationConfiguration: {
        QueueConfigurations: [{
          Events: ['s3:ObjectCreated:*'],
          Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'uploads/' }] } },
          QueueArn: { 'Fn::GetAtt': [jobs, 'Arn'] },
        }],
      },
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: jobs }],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({
          Effect: 'Allow',
          Principal: { Service: 's3.amazonaws.com' },
          Action: Match.arrayWith(['sqs:SendMessage']),
          Condition: { ArnLike: { 'aws:SourceArn': Match.anyValue() } },
        })]),
      },
    });
  });
});

describe('variants CDN', () => {
  test('the bucket is reached through Origin Access Control only', () => {
    template.resourceCountIs('AWS::CloudFront::OriginAccessControl', 1);
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({
          Principal: { Service: 'cloudfront.amazonaws.com' },
          Action: 's3:GetObject',
          Condition: { StringEquals: { 'AWS:SourceArn': Match.anyValue() } },
        })]),
      },
    });
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        CacheBehaviors: [Match.objectLike({ PathPattern: '/a/*', TargetOriginId: 'gateway', FunctionAssociations: [Match.objectLike({ EventType: 'viewer-request' })] })],
        DefaultCacheBehavior: Match.objectLike({ TargetOriginId: 'variants', ViewerProtocolPolicy: 'redirect-to-https' }),
      }),
    });
  });

  // The viewer-request function, run in Node with CloudFront's helper
  // module stubbed: what it answers and where the request goes.
  type Req = { uri: string; querystring: Record<string, { value: string }> };
  function route(uri: string, query: Record<string, string> = {}): { status?: number; uri?: string; origin?: string } {
    let origin: string | undefined;
    const cf = { selectRequestOriginById: (id: string) => { origin = id; } };
    const code = CDN_ROUTE.replace("import cf from 'cloudfront';", '') + '\nresult = handler(event);';
    const request: Req = { uri, querystring: Object.fromEntries(Object.entries(query).map(([k, v]) => [k, { value: v }])) };
    const sandbox: { cf: typeof cf; event: { request: Req }; result?: { statusCode?: number; uri?: string } } = { cf, event: { request } };
    vm.runInNewContext(code, sandbox);
    const r = sandbox.result!;
    return r.statusCode ? { status: r.statusCode } : { uri: r.uri, origin };
  }
  test.each([
    ['/a/img_1/thumb', {}, { uri: '/img_1/thumb', origin: 'variants' }],
    ['/a/img_1/thumb', { exp: '1', sig: 'x' }, { uri: '/a/img_1/thumb', origin: undefined }],
    ['/img_1/thumb', {}, { uri: '/img_1/thumb', origin: undefined }],
    ['/private/img_1/thumb', {}, { status: 403 }],
    ['/a/private/img_1/thumb', {}, { status: 403 }],
    ['/a/%70rivate/img_1/thumb', {}, { status: 403 }],
    ['/%70rivate/img_1/thumb', {}, { status: 403 }],
    ['/', {}, { status: 403 }],
  ])('%s %j', (uri, query, want) => {
    expect(route(uri, query)).toEqual(want);
  });
});

describe('queues', () => {
  test.each([
    ['defaults', {}, 60, 4],
    ['5 attempts, 2 minutes', { maxAttempts: 5, visibility: Duration.seconds(120) }, 120, 6],
  ])('%s: visibility %d s, max receive count %d', (_name, props, visibility, maxReceive) => {
    const t = Object.keys(props).length === 0 ? template : synth(props).template;
    const dlq = Object.keys(t.findResources('AWS::SQS::Queue', { Properties: { QueueName: 'imagepipe-jobs-dlq' } }))[0];
    t.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: 'imagepipe-jobs',
      VisibilityTimeout: visibility,
      ReceiveMessageWaitTimeSeconds: 0,
      RedrivePolicy: { maxReceiveCount: maxReceive, deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] } },
    });
    t.hasResourceProperties('AWS::SQS::Queue', { QueueName: 'imagepipe-jobs-dlq', MessageRetentionPeriod: 14 * 24 * 3600 });
    if (t !== template) {
      t.hasResourceProperties('AWS::ECS::TaskDefinition', {
        ContainerDefinitions: [Match.objectLike({
          Environment: Match.arrayWith([
            { Name: 'IMAGEPIPE_PROCESSOR_MAX_ATTEMPTS', Value: String(maxReceive - 1) },
            { Name: 'IMAGEPIPE_PROCESSOR_VISIBILITY', Value: `${visibility / 60}m` },
          ]),
        })],
      });
    }
  });
  test('the events queue has no dead-letter queue', () => {
    template.hasResourceProperties('AWS::SQS::Queue', { QueueName: 'imagepipe-events', RedrivePolicy: Match.absent() });
  });
});

describe('tables', () => {
  test.each([
    ['imagepipe-images', ['by_batch', 'by_tenant'], 'expires_at'],
    ['imagepipe-images-tenants', ['by_tenant'], undefined],
    ['imagepipe-images-webhooks', ['by_created'], undefined],
  ])('%s: indexes %j, time to live %s', (name, indexes, ttl) => {
    const [id] = Object.keys(template.findResources('AWS::DynamoDB::Table', { Properties: { TableName: name } }));
    const p = template.toJSON().Resources[id].Properties;
    expect(p.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    expect(p.BillingMode).toBe('PAY_PER_REQUEST');
    expect(p.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(p.GlobalSecondaryIndexes.map((ix: { IndexName: string }) => ix.IndexName).sort()).toEqual(indexes);
    expect(p.TimeToLiveSpecification?.AttributeName).toBe(ttl);
  });
  test('a status TTL puts one on the delivery log and in the status URL', () => {
    const t = synth({ statusTTL: Duration.days(30) }).template;
    t.hasResourceProperties('AWS::DynamoDB::Table', { TableName: 'imagepipe-images-webhooks', TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true } });
    t.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ Environment: Match.arrayWith([{ Name: 'IMAGEPIPE_STATUS', Value: 'dynamodb://imagepipe-images?ttl=720h' }]) })],
    });
  });
});

describe('compute', () => {
  const targets = ['ingest', 'processor', 'status', 'gateway'];
  function taskOf(target: string) {
    const tasks = template.findResources('AWS::ECS::TaskDefinition', {
      Properties: { ContainerDefinitions: [Match.objectLike({ Environment: Match.arrayWith([{ Name: 'IMAGEPIPE_TARGET', Value: target }]) })] },
    });
    expect(Object.keys(tasks)).toHaveLength(1);
    return Object.values(tasks)[0].Properties;
  }
  test.each(targets)('%s: a Fargate service, secrets from Secrets Manager, read-only, health checked', (target) => {
    const task = taskOf(target);
    expect(task.RequiresCompatibilities).toEqual(['FARGATE']);
    const c = task.ContainerDefinitions[0];
    expect(c.ReadonlyRootFilesystem).toBe(true);
    expect(c.HealthCheck.Command).toEqual(['CMD', '/usr/local/bin/imagepipe', 'health', '-http', 'http://localhost:9100']);
    const secrets = c.Secrets.map((s: { Name: string }) => s.Name).sort();
    expect(secrets).toEqual(target === 'gateway' ? ['IMAGEPIPE_URL_SIGNING_KEYS'] : ['IMAGEPIPE_ADMIN_KEY', 'IMAGEPIPE_URL_SIGNING_KEYS']);
    for (const s of c.Secrets) expect(s.ValueFrom.Ref).toMatch(/^(AdminKey|UrlSigningKeys)/);
    expect(c.Environment.some((e: { Name: string; Value: unknown }) => /KEY|SECRET/.test(e.Name))).toBe(false);
  });
  test('four services, three secrets', () => {
    template.resourceCountIs('AWS::ECS::Service', 4);
    template.resourceCountIs('AWS::SecretsManager::Secret', 3);
  });
  test('the load balancer: HTTPS, REST to the gateway, each gRPC service to its target over HTTP/2', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 443, Protocol: 'HTTPS' });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80, DefaultActions: [Match.objectLike({ Type: 'redirect' })] });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { Port: 8080, HealthCheckPath: '/healthz', HealthCheckPort: '9100', Matcher: { HttpCode: '200' } });
    const grpc = template.findResources('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Properties: { ProtocolVersion: 'GRPC', Port: 9090, HealthCheckPath: '/grpc.health.v1.Health/Check', Matcher: { GrpcCode: '0' } },
    });
    expect(Object.keys(grpc)).toHaveLength(3);
    for (const svc of ['IngestService', 'ProcessorService', 'StatusService', 'AdminService']) {
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
        Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: Match.arrayWith([`/imagepipe.v1.${svc}/*`]) } }],
      });
    }
  });
  test('the processor scales on backlog per task (metric math), one job per worker', () => {
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: {
        TargetValue: 2,
        CustomizedMetricSpecification: {
          Metrics: Match.arrayWith([
            Match.objectLike({ Id: 'visible', MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'ApproximateNumberOfMessagesVisible' }) }) }),
            Match.objectLike({ Id: 'tasks', MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'RunningTaskCount' }) }) }),
            Match.objectLike({ Expression: 'visible / tasks', ReturnData: true }),
          ]),
        },
      },
    });
  });
  test('alarms: dead-letter queue not empty, oldest job age, 5xx ratio', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateAgeOfOldestMessage', Threshold: 300 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 0.01,
      Metrics: Match.arrayWith([Match.objectLike({ Expression: Match.stringLikeRegexp('5xx') })]),
    });
  });
});

describe('IAM: DEPLOYMENT.md\'s table', () => {
  // Actions per target, restated from docs/DEPLOYMENT.md.
  const want: Record<string, string[]> = {
    ingest: ['dynamodb:ConditionCheckItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 's3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:ListBucket', 's3:PutObject', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
    processor: ['dynamodb:ConditionCheckItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 's3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:PutObject',
      'sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage', 'sqs:SendMessage'],
    status: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:Scan', 'dynamodb:UpdateItem',
      'sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage', 'sqs:SendMessage'],
    gateway: ['s3:GetObject'],
  };
  test.each(Object.keys(want))('%s task role', (target) => {
    const tasks = template.findResources('AWS::ECS::TaskDefinition', {
      Properties: { ContainerDefinitions: [Match.objectLike({ Environment: Match.arrayWith([{ Name: 'IMAGEPIPE_TARGET', Value: target }]) })] },
    });
    const role = Object.values(tasks)[0].Properties.TaskRoleArn['Fn::GetAtt'][0];
    const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: role }] } });
    const actions = new Set<string>();
    for (const p of Object.values(policies)) {
      for (const s of p.Properties.PolicyDocument.Statement) {
        expect(s.Effect).toBe('Allow');
        expect(s.Resource).not.toBe('*');
        for (const a of [s.Action].flat()) actions.add(a);
      }
    }
    expect([...actions].sort()).toEqual(want[target]);
  });
});

describe('image', () => {
  test('built from the repository\'s Dockerfile without Docker at synth', () => {
    const app = new App({ context: { 'aws:cdk:disable-asset-staging': true } });
    const s = new ImagepipeStack(app, 'Imagepipe', { ...base, image: undefined });
    const t = Template.fromStack(s);
    const task = Object.values(t.findResources('AWS::ECS::TaskDefinition'))[0];
    expect(JSON.stringify(task.Properties.ContainerDefinitions[0].Image)).toContain('cdk-hnb659fds-container-assets');
  });
});
